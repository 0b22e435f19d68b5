"""`sagactl acls`: the Kafka ACLs each principal needs for the configured sagas (print them),
and `sagactl acls apply` (create them with the admin client, as a principal allowed to)."""

from __future__ import annotations

import logging
from typing import Any

import click
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from orchestrator.acls import AclRule, Principals, required_acls
from orchestrator.cli._output import EXIT_PROBLEM, fail, output_option
from orchestrator.cli._output import emit as _emit
from orchestrator.cli._reach import Needs, kafka_reason, requires
from orchestrator.cli._types import Text
from orchestrator.config import Settings
from orchestrator.runtime import load_sagas
from orchestrator.saga import SagaRegistry
from orchestrator.security import kafka_connection

# librdkafka logs to stderr unless given a logger (e.g. a background queue purged as the client
# closes), which would follow the command's one-line verdict; every failure reaches that verdict
# through the futures instead.
_LIBRDKAFKA = logging.getLogger("sagactl.acls.librdkafka")
_LIBRDKAFKA.addHandler(logging.NullHandler())
_LIBRDKAFKA.propagate = False

_COLUMNS = ("principal", "role", "resource_type", "resource", "operation")
TIMEOUT_S = 30.0


def _principals(f: Any) -> Any:
    f = click.option(
        "--participant-prefix",
        type=Text(),
        default=None,
        help="Prefix of each participant's user name: a service's user is PREFIX + its name "
        "(the command topic without `.commands`). Default: none.",
    )(f)
    f = click.option(
        "--starter-user",
        type=Text(),
        default="saga-starter",
        show_default=True,
        help="The user that starts sagas (writes the start topics).",
    )(f)
    return click.option(
        "--worker-user",
        type=Text(),
        default=None,
        help="The workers' user. Default: SAGA_KAFKA_SASL_USERNAME, else saga-worker.",
    )(f)


def _rules(
    worker_user: str | None, starter_user: str, participant_prefix: str | None
) -> list[AclRule]:
    settings = Settings.from_env()
    principals = Principals(
        worker=worker_user or settings.kafka_sasl_username or "saga-worker",
        starter=starter_user,
        participant_prefix=participant_prefix or "",
    )
    anchors = settings.anchor_interval_s > 0 and bool(settings.anchor_signing_key_file)
    return required_acls(
        SagaRegistry(load_sagas(settings.sagas)),
        principals,
        worker_group=settings.consumer_group,
        anchor_topic=settings.anchor_topic if anchors else None,
    )


@click.group(invoke_without_command=True)
@_principals
@output_option
@click.pass_context
@requires()
def acls(
    ctx: click.Context,
    worker_user: str | None,
    starter_user: str,
    participant_prefix: str | None,
    output: str,
) -> None:
    """Print the ACLs each principal needs for SAGA_SAGAS (ALLOW, literal names; the
    authorizer denies the rest)."""
    if ctx.invoked_subcommand is not None:
        return
    rules = _rules(worker_user, starter_user, participant_prefix)
    _emit([_row(rule) for rule in rules], output, _COLUMNS)


@acls.command("apply")
@_principals
@requires(Needs.KAFKA)
def apply(worker_user: str | None, starter_user: str, participant_prefix: str | None) -> None:
    """Create those ACLs with the admin client (idempotent; run as a principal allowed to
    alter ACLs, e.g. the cluster's admin)."""
    rules = _rules(worker_user, starter_user, participant_prefix)
    config: dict[str, Any] = {**kafka_connection(Settings.from_env()), "logger": _LIBRDKAFKA}
    admin = AdminClient(config)
    bindings = {_binding(rule): rule for rule in rules}
    futures = admin.create_acls(list(bindings), request_timeout=TIMEOUT_S)
    refused: list[str] = []
    for binding, future in futures.items():
        try:
            future.result(TIMEOUT_S)
        except KafkaException as exc:
            rule = bindings[binding]
            refused.append(
                f"{rule.principal} {rule.operation} {rule.resource}: {kafka_reason(exc)}"
            )
    if refused:
        raise fail(f"{len(refused)} ACL(s) not created, first: {refused[0]}", EXIT_PROBLEM)
    click.echo(f"sagactl: {len(rules)} ACL(s) in place", err=True)


def _row(rule: AclRule) -> dict[str, str]:
    return {
        "principal": rule.principal,
        "role": rule.role,
        "resource_type": rule.resource_type,
        "resource": rule.resource,
        "operation": rule.operation,
    }


def _binding(rule: AclRule) -> AclBinding:
    return AclBinding(
        ResourceType[rule.resource_type],
        rule.resource,
        ResourcePatternType.LITERAL,
        rule.principal,
        "*",
        AclOperation[rule.operation],
        AclPermissionType.ALLOW,
    )
