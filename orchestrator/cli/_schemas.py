"""`sagactl schemas`: compare the working tree's .avsc files with the registry, register them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from orchestrator.cli._output import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNREACHABLE,
    first_line,
    output_option,
)
from orchestrator.cli._output import emit as _emit
from orchestrator.cli._reach import requires
from orchestrator.cli._types import Binding
from orchestrator.codec import (
    DEFAULT_COMPATIBILITY,
    CodecSettings,
    CompatibilityLevel,
    RegistrySettings,
    RegistryUnavailableError,
    SubjectPlan,
    connect_registry,
    is_transient_registry_error,
    list_subjects,
    plan_schemas,
    register_schemas,
)
from orchestrator.config import Settings
from orchestrator.messages import AvroSchemaFile, load_schema_dir
from orchestrator.runtime import Routes, load_sagas
from orchestrator.saga import SagaRegistry

__all__ = ["schemas"]

EXIT_INCOMPATIBLE = EXIT_PROBLEM

T = TypeVar("T")

_output = output_option
_bind = click.option(
    "--bind",
    "bindings",
    multiple=True,
    type=Binding(),
    help="Also check RECORD (an Avro full name) under the subject it gets on TOPIC. Repeatable.",
)


@click.group("schemas")
@click.option(
    "--schemas-dir",
    "schema_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory of .avsc files (repeatable). Default: the schemas of the messages of "
    "the sagas in SAGA_SAGAS and the orchestrator's own.",
)
@click.pass_context
def schemas(ctx: click.Context, schema_dirs: tuple[Path, ...]) -> None:
    """Avro schemas: compare the working tree with the registry, register them.

    The registry is SAGA_SCHEMA_REGISTRY_URL (with SAGA_SCHEMA_REGISTRY_BASIC_AUTH=user:password)
    or, when unset, the built-in registry in the event store's database (SAGA_DATABASE_URL).
    A record is checked under every subject the registry holds for it, plus any given with
    --bind; subject names follow SAGA_SUBJECT_NAME_STRATEGY (default TOPIC_RECORD).

    \b
    Exit codes:
      0  every schema is registered or may be registered
      1  at least one schema is incompatible with its subject (each incompatibility listed)
      2  bad usage or unreadable schema files
      3  the registry is unreachable
    """
    ctx.ensure_object(dict)
    ctx.obj["schema_dirs"] = schema_dirs


@schemas.command("check")
@_bind
@_output
@click.pass_context
@requires()
def check(ctx: click.Context, bindings: tuple[tuple[str, str], ...], output: str) -> None:
    """Compare each .avsc with its subjects' registered versions; exit 1 if any is incompatible."""
    files = _schema_files(ctx)
    checked = _parse_bindings(bindings, files)  # bad usage is exit 2 even with no registry
    plans = _with_registry(
        lambda registry: plan_schemas(
            registry,
            files,
            bindings=checked,
            strategy=CodecSettings.from_env().subject_name_strategy,
        )
    )
    _emit(_plan_rows(plans), output, _PLAN_COLUMNS)
    ctx.exit(_report(plans))


@schemas.command("register")
@_bind
@_output
@click.option("--dry-run", is_flag=True, help="Show what would be registered; change nothing.")
@click.option(
    "--compatibility",
    type=click.Choice([level.value for level in CompatibilityLevel]),
    default=DEFAULT_COMPATIBILITY.value,
    show_default=True,
    help="Compatibility level given to subjects this command creates.",
)
@click.pass_context
@requires()
def register(
    ctx: click.Context,
    bindings: tuple[tuple[str, str], ...],
    output: str,
    dry_run: bool,
    compatibility: str,
) -> None:
    """Register every new or compatible .avsc; register nothing if any is incompatible."""
    files = _schema_files(ctx)
    checked = _parse_bindings(bindings, files)  # bad usage is exit 2 even with no registry

    def run(registry: SchemaRegistryClient) -> tuple[list[SubjectPlan], list[dict[str, Any]]]:
        plans = plan_schemas(
            registry,
            files,
            bindings=checked,
            strategy=CodecSettings.from_env().subject_name_strategy,
        )
        if dry_run or any(p.status == "incompatible" for p in plans):
            return plans, []
        done = register_schemas(
            registry, files, plans, new_subject_level=CompatibilityLevel(compatibility)
        )
        return plans, [asdict(r) for r in done]

    plans, registered = _with_registry(run)
    if output == "json":
        click.echo(json.dumps({"plans": _plan_rows(plans), "registered": registered}, indent=2))
    else:
        _emit(_plan_rows(plans), output, _PLAN_COLUMNS)
        if registered:
            click.echo()
            _emit(registered, output, ("subject", "record", "schema_id", "version"))
    code = _report(plans)
    if code == EXIT_INCOMPATIBLE:
        click.echo("sagactl: nothing registered", err=True)
    elif dry_run:
        pending = sum(p.needs_registering for p in plans)
        click.echo(f"sagactl: dry run, {pending} schema(s) would be registered", err=True)
    else:
        click.echo(f"sagactl: {len(registered)} schema(s) registered", err=True)
    ctx.exit(code)


@schemas.command("list")
@_output
@requires()
def list_(output: str) -> None:
    """The registry's subjects, their versions, latest schema id and compatibility level."""
    summaries = _with_registry(list_subjects)
    rows = [
        asdict(s) | {"versions": list(s.versions), "compatibility": str(s.compatibility)}
        for s in summaries
    ]
    _emit(rows, output, ("subject", "record", "versions", "latest_schema_id", "compatibility"))


# --- helpers ------------------------------------------------------------------------------------


def _schema_files(ctx: click.Context) -> list[AvroSchemaFile]:
    dirs: Sequence[Path] = ctx.obj["schema_dirs"]
    try:
        if not dirs:
            # The Message classes are the schemas' source: the same ones the workers register.
            registry = SagaRegistry(load_sagas(Settings.from_env().sagas))
            by_name = {
                m.avro_name: m.avro_schema
                for d in registry.definitions
                for m in d.message_types.values()
            }
            return [by_name[name] for name in sorted(by_name)]
        return [f for d in dirs for f in load_schema_dir(d)]
    except TypeError as exc:  # unreadable or non-record .avsc
        raise click.UsageError(str(exc)) from exc


def _parse_bindings(
    bindings: Sequence[tuple[str, str]], files: Sequence[AvroSchemaFile]
) -> list[tuple[str, str]]:
    """--bind pairs, plus every (topic, record) the sagas in SAGA_SAGAS use: a record is
    checked under the subject it will have even before anything was registered for it."""
    known = {f.full_name for f in files}
    registry = SagaRegistry(load_sagas(Settings.from_env().sagas))
    parsed = [(topic, record) for topic, record in Routes.bindings(registry) if record in known]
    for topic, record in bindings:
        if record not in known:
            raise click.BadParameter(
                f"'{topic}={record}': RECORD must be one of the .avsc records",
                param_hint="--bind",
            )
        parsed.append((topic, record))
    return parsed


def _with_registry(work: Callable[[SchemaRegistryClient], T]) -> T:
    settings = RegistrySettings.from_env()
    registry = connect_registry(settings)
    try:
        return work(registry)
    except RegistryUnavailableError as exc:
        _unreachable(settings, exc)
    except SchemaRegistryError as exc:
        if is_transient_registry_error(exc):
            _unreachable(settings, exc)
        raise click.ClickException(f"schema registry refused: {exc}") from exc
    except Exception as exc:
        if is_transient_registry_error(exc):
            _unreachable(settings, exc)
        raise
    finally:
        registry.close()


def _unreachable(settings: RegistrySettings, exc: BaseException) -> NoReturn:
    where = "the built-in registry (SAGA_DATABASE_URL)" if settings.builtin else settings.url
    click.echo(f"sagactl: schema registry unreachable at {where}: {first_line(exc)}", err=True)
    sys.exit(EXIT_UNREACHABLE)


def _report(plans: Sequence[SubjectPlan]) -> int:
    for item in plans:
        if item.status == "unbound":
            click.echo(
                f"sagactl: {item.record} has no subject yet; name one with --bind TOPIC=RECORD",
                err=True,
            )
        for problem in item.incompatibilities:
            click.echo(f"sagactl: INCOMPATIBLE {item.subject} {problem.describe()}", err=True)
    incompatible = sum(p.status == "incompatible" for p in plans)
    if incompatible:
        click.echo(f"sagactl: {incompatible} incompatible schema change(s)", err=True)
        return EXIT_INCOMPATIBLE
    return EXIT_OK


_PLAN_COLUMNS = ("record", "subject", "status", "compatibility", "latest_version")


def _plan_rows(plans: Sequence[SubjectPlan]) -> list[dict[str, Any]]:
    return [
        {
            "record": p.record,
            "subject": p.subject,
            "status": p.status,
            "compatibility": None if p.compatibility is None else str(p.compatibility),
            "latest_version": p.latest_version,
            "origin": p.origin,
            "incompatibilities": [asdict(i) for i in p.incompatibilities],
        }
        for p in plans
    ]
