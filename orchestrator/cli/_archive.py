"""`sagactl export`, `import`, `verify` and `db anchor`: signed exports and anchored chains.

    sagactl export [--saga ID | --type T --since T --until T] [--key-file K] > F
    sagactl export --keygen DIR                        a new Ed25519 key pair, mode 0600
    sagactl import F --public-key K                    into an EMPTY store, after verifying F
    sagactl verify --file F --public-key K             an export, offline (no server)
    sagactl verify [--public-key K]                    the store, as `db verify` does
    sagactl db anchor [--key-file K]                   sign every stream's head to Kafka

Exit codes are sagactl's: 0 ok, 1 a problem found (a bad export, a non-empty target, a
finding against the anchors), 2 bad usage or configuration (a missing or unreadable key),
3 PostgreSQL or Kafka unreachable. Problems are one line on stderr.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from orchestrator.archive import (
    KEY_ENV,
    KEY_FILE_ENV,
    AnchorError,
    AnchorTarget,
    AnchorTopicError,
    ExportError,
    ExportSelection,
    Finding,
    ImportCheckError,
    NotEmptyError,
    SigningKeyError,
    check_anchor,
    export_store,
    fingerprint,
    generate_key_pair,
    import_export,
    load_private_key,
    load_public_key,
    private_key_from_env,
    verify_export_file,
    write_anchor,
)
from orchestrator.cli._config import load_settings
from orchestrator.cli._output import (
    EXIT_PROBLEM,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    emit,
    fail,
    output_option,
)
from orchestrator.cli._progress import Progress, jobs_option
from orchestrator.cli._reach import require_kafka, require_postgres
from orchestrator.cli._types import StreamId
from orchestrator.config import ConfigError, Settings
from orchestrator.security import kafka_client_security

__all__ = [
    "FINDING_COLUMNS",
    "anchor_command",
    "anchor_findings",
    "export_command",
    "import_command",
    "verify",
]

# With an offset, as `saga list` takes them: a time without one would be read in the local
# zone of whoever runs the command.
_INSTANT = click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"])
_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _fail(message: str, code: int) -> NoReturn:
    raise fail(message, code)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", EXIT_USAGE)


def _private_key(key_file: Path | None, fallback: str | None = None) -> Ed25519PrivateKey:
    try:
        if key_file is not None:
            return load_private_key(key_file)
        if fallback:
            return load_private_key(Path(fallback))
        key = private_key_from_env()
    except SigningKeyError as exc:
        _fail(str(exc), EXIT_USAGE)
    if key is None:
        _fail(f"no signing key: give --key-file, or set {KEY_FILE_ENV} or {KEY_ENV}", EXIT_USAGE)
    return key


def _public_key(path: Path) -> Ed25519PublicKey:
    try:
        return load_public_key(path)
    except SigningKeyError as exc:
        _fail(str(exc), EXIT_USAGE)


# --- export --------------------------------------------------------------------------------


@click.command(name="export")
@click.option("--saga", "saga_id", type=StreamId("saga id"), help="Export this saga only.")
@click.option("--type", "stream_type", type=StreamId("saga type"), help="Sagas of this type.")
@click.option("--since", type=_INSTANT, help="Sagas started at or after (with offset).")
@click.option("--until", type=_INSTANT, help="Sagas started before (with offset).")
@click.option(
    "--key-file",
    type=_EXISTING_FILE,
    help=f"Ed25519 private key: PKCS#8 PEM or 32 raw bytes [default: ${KEY_FILE_ENV}, "
    f"else ${KEY_ENV} (PEM text or base64 of 32 bytes)].",
)
@click.option(
    "--keygen",
    "keygen_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instead of exporting: write a new key pair (export-signing.key/.pub, mode 0600) here.",
)
def export_command(
    saga_id: str | None,
    stream_type: str | None,
    since: datetime | None,
    until: datetime | None,
    key_file: Path | None,
    keygen_dir: Path | None,
) -> None:
    """Write a signed JSON Lines export of the event store to stdout (everything, one saga, or
    the sagas of a type started in a window)."""
    settings = _settings()
    if keygen_dir is not None:
        _keygen(keygen_dir)
        return
    if saga_id is not None and (stream_type or since or until):
        _fail("export: --saga selects one saga; it cannot be combined with a filter", EXIT_USAGE)
    if since is not None and until is not None and since >= until:
        _fail("export: --since must be before --until", EXIT_USAGE)
    require_postgres(settings.database_url)
    key = _private_key(key_file)
    out: BinaryIO = sys.stdout.buffer
    if out.isatty():
        _fail("export: stdout is a terminal; redirect it to a file", EXIT_USAGE)
    selection = ExportSelection(saga_id, stream_type, since, until)
    try:
        header = export_store(settings.database_url, out, key, selection)
    except LookupError as exc:
        _fail(f"export: {exc}", EXIT_PROBLEM)
    click.echo(
        f"exported {header.events} event(s) of {header.streams} stream(s), signed by key "
        f"{fingerprint(key.public_key())}",
        err=True,
    )


def _keygen(directory: Path) -> None:
    try:
        pair = generate_key_pair(directory)
    except (SigningKeyError, OSError) as exc:
        _fail(f"export --keygen: {exc}", EXIT_PROBLEM)
    click.echo(f"private key {pair.private} (keep it secret), public key {pair.public}")
    click.echo(f"key fingerprint {pair.fingerprint}", err=True)


# --- import --------------------------------------------------------------------------------


@click.command(name="import")
@click.argument("file", required=False, type=_EXISTING_FILE)
@click.option("--public-key", type=_EXISTING_FILE, help="The exporter's public key (required).")
@output_option
def import_command(file: Path | None, public_key: Path | None, output: str) -> None:
    """Load an export into an EMPTY store, after verifying its signature and every chain;
    versions, times and hashes are kept, positions are assigned anew in the export's order."""
    settings = _settings()
    # The store is asked first: an unreachable one is exit 3 whatever else is missing.
    require_postgres(settings.database_url)
    if file is None or public_key is None:
        _fail("import: give the export FILE and --public-key", EXIT_USAGE)
    key = _public_key(public_key)
    try:
        result = import_export(settings.database_url, file, key)
    except NotEmptyError as exc:
        _fail(f"import: {exc}", EXIT_PROBLEM)
    except ExportError as exc:
        _fail(f"import: {file}: {exc}; nothing was written", EXIT_PROBLEM)
    except ImportCheckError as exc:
        _fail(f"import: {file}: written, but {exc}", EXIT_PROBLEM)
    except OSError as exc:
        _fail(f"import: {file}: {exc.strerror or exc}", EXIT_PROBLEM)
    row = {
        "file": str(file),
        "signer": result.summary.signer,
        "streams": result.summary.streams,
        "events": result.imported,
        "chains": "intact" if result.verify.ok else f"{len(result.verify.breaks)} broken",
    }
    emit([row], output, list(row))
    if not result.verify.ok:
        first = result.verify.breaks[0]
        _fail(f"import: stream {first.stream_id} does not verify: {first.reason}", EXIT_PROBLEM)
    click.echo(
        "imported; the projector folds the projections from the start (or run sagactl db rebuild)",
        err=True,
    )


# --- verify --------------------------------------------------------------------------------


@click.command(name="verify")
@click.option("--file", type=_EXISTING_FILE, help="An export to check offline (no server).")
@click.option(
    "--public-key",
    type=_EXISTING_FILE,
    help="With --file: the exporter's public key. Without: the anchors' public key.",
)
@jobs_option
@output_option
@click.pass_context
def verify(
    ctx: click.Context, file: Path | None, public_key: Path | None, jobs: int, output: str
) -> None:
    """Check an export offline (signature, every chain, the header's counts and heads), or
    without --file the store itself, as `sagactl db verify`."""
    _settings()
    if file is None:
        from orchestrator.cli._db import verify_command  # noqa: PLC0415 - db imports this module

        ctx.invoke(verify_command, stream_id=None, output=output, public_key=public_key, jobs=jobs)
        return
    if public_key is None:
        _fail("verify: --file needs --public-key", EXIT_USAGE)
    key = _public_key(public_key)
    # A bar on a terminal only (by bytes read): in a pipe stderr stays the one-line verdict.
    progress = Progress(sys.stderr, what="verify", unit="lines", tty=True)
    try:
        summary = verify_export_file(file, key, progress if sys.stderr.isatty() else None)
    except ExportError as exc:
        progress.close()
        _fail(f"verify: {file}: {exc}", EXIT_PROBLEM)
    except OSError as exc:
        progress.close()
        _fail(f"verify: {file}: {exc.strerror or exc}", EXIT_PROBLEM)
    progress.close()
    row = {
        "file": str(file),
        "ok": True,
        "signer": summary.signer,
        "streams": summary.streams,
        "events": summary.events,
        "exported_at": summary.header.exported_at,
    }
    emit([row], output, list(row))


# --- anchors -------------------------------------------------------------------------------


def _target(settings: Settings) -> AnchorTarget:
    return AnchorTarget(
        settings.kafka_bootstrap,
        settings.anchor_topic,
        settings.topic_replication_factor,
        kafka_client_security(settings),
    )


@click.command(name="anchor")
@click.option(
    "--key-file",
    type=_EXISTING_FILE,
    help="Ed25519 private key (PEM or 32 raw bytes) [default: $SAGA_ANCHOR_SIGNING_KEY_FILE].",
)
@output_option
def anchor_command(key_file: Path | None, output: str) -> None:
    """Sign every stream's head (version and hash) and the global position, and append them
    to the anchors topic (SAGA_ANCHOR_TOPIC), which `db verify` judges the store by."""
    settings = _settings()
    require_postgres(settings.database_url)
    require_kafka(settings)
    if key_file is None and not settings.anchor_signing_key_file:
        _fail(
            "db anchor: no signing key: give --key-file or set SAGA_ANCHOR_SIGNING_KEY_FILE",
            EXIT_USAGE,
        )
    key = _private_key(key_file, settings.anchor_signing_key_file)
    try:
        anchor, offset = write_anchor(settings.database_url, _target(settings), key)
    except AnchorTopicError as exc:
        _fail(f"db anchor: {exc}", EXIT_UNREACHABLE)
    row = {
        "topic": settings.anchor_topic,
        "offset": offset,
        "anchored_at": anchor.body()["anchored_at"],
        "global_position": anchor.global_position,
        "streams": len(anchor.heads),
        "events": anchor.events,
        "signer": fingerprint(key.public_key()),
    }
    emit([row], output, list(row))


def _anchor_public_key(settings: Settings, path: Path | None) -> Ed25519PublicKey | None:
    if path is not None:
        return _public_key(path)
    if settings.anchor_signing_key_file:
        return _private_key(None, settings.anchor_signing_key_file).public_key()
    return None


def anchor_findings(settings: Settings, public_key: Path | None) -> list[dict[str, Any]] | None:
    """For `db verify`: the store against the newest anchor, as rows; None when no anchor key
    is known (then anchors are not checked, and stderr says so)."""
    key = _anchor_public_key(settings, public_key)
    if key is None:
        click.echo(
            "anchors not checked: give --public-key or set SAGA_ANCHOR_SIGNING_KEY_FILE", err=True
        )
        return None
    require_kafka(settings)
    try:
        check = check_anchor(settings.database_url, _target(settings), key)
    except AnchorTopicError as exc:
        _fail(f"db verify: {exc}", EXIT_UNREACHABLE)
    except AnchorError as exc:
        _fail(f"db verify: the newest anchor of {settings.anchor_topic}: {exc}", EXIT_PROBLEM)
    if check.anchor is None:
        click.echo(f"no anchor in {settings.anchor_topic} yet: nothing to compare", err=True)
        return []
    click.echo(
        f"compared {len(check.anchor.heads)} stream head(s) with the anchor at offset "
        f"{check.offset} of {settings.anchor_topic} ({check.anchor.body()['anchored_at']})",
        err=True,
    )
    return [_finding_row(finding) for finding in check.findings]


FINDING_COLUMNS = ("finding", "stream_id", "version", "reason")


def _finding_row(finding: Finding) -> dict[str, Any]:
    return {
        "finding": finding.kind.value,
        "stream_id": finding.stream_id,
        "version": finding.version,
        "reason": finding.reason,
    }
