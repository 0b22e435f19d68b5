"""The Kafka ACLs each principal needs for the configured sagas, and nothing more.

Derived from the saga definitions the worker registers (SAGA_SAGAS), the way the worker derives
its topics, so a saga added to the configuration is covered the next time the ACLs are applied:

- the worker reads the start and reply topics in its consumer group, writes commands, the
  timeouts it fires (to the reply topics) and dead letters of what it consumes, and creates
  all of those topics at start (with `.dlt` twins; the anchors topic when it signs anchors);
- each participant (one principal per command topic, named after the service) reads its own
  command topic in its own group, writes the replies of the sagas that command it, and its
  own dead letters;
- a starter writes the start topics.

Every binding is a literal resource and an ALLOW, so what is not listed is denied by an
authorizer that denies by default (KRaft's StandardAuthorizer with
allow.everyone.if.no.acl.found=false). Idempotent producers need nothing beyond WRITE on a
topic (KIP-679).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Final, Literal

from orchestrator.kafka import DEAD_LETTER_SUFFIX
from orchestrator.saga import SagaRegistry

COMMAND_SUFFIX: Final = ".commands"

ResourceType = Literal["TOPIC", "GROUP"]
Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE"]


@dataclass(frozen=True, slots=True, order=True)
class AclRule:
    principal: str  # "User:<name>"
    resource_type: ResourceType
    resource: str
    operation: Operation
    role: str  # who needs it: "worker", "starter", "participant <service>"


@dataclass(frozen=True, slots=True)
class Principals:
    worker: str
    starter: str
    participant_prefix: str = ""  # a service's user is prefix + service name

    def participant(self, service: str) -> str:
        return f"{self.participant_prefix}{service}"


def service_of(command_topic: str) -> str:
    """`inventory.commands` -> `inventory`; a topic without the suffix names its service."""
    return command_topic.removesuffix(COMMAND_SUFFIX)


def required_acls(
    registry: SagaRegistry,
    principals: Principals,
    *,
    worker_group: str,
    anchor_topic: str | None,
) -> list[AclRule]:
    rules: set[AclRule] = set()

    def allow(role: str, user: str, kind: ResourceType, name: str, *ops: Operation) -> None:
        rules.update(AclRule(f"User:{user}", kind, name, op, role) for op in ops)

    definitions = registry.definitions
    starts = {d.start_topic for d in definitions}
    replies = {d.reply_topic for d in definitions}
    commands = set(registry.command_topics)
    worker = principals.worker
    for topic in starts | replies:
        allow("worker", worker, "TOPIC", topic, "READ", "DESCRIBE", "CREATE")
        allow("worker", worker, "TOPIC", topic + DEAD_LETTER_SUFFIX, "WRITE", "DESCRIBE", "CREATE")
    for topic in replies:
        allow("worker", worker, "TOPIC", topic, "WRITE")  # timeouts it fires itself
    for topic in commands:
        allow("worker", worker, "TOPIC", topic, "WRITE", "DESCRIBE", "CREATE")
        allow("worker", worker, "TOPIC", topic + DEAD_LETTER_SUFFIX, "DESCRIBE", "CREATE")
    allow("worker", worker, "GROUP", worker_group, "READ", "DESCRIBE")
    if anchor_topic is not None:
        allow("worker", worker, "TOPIC", anchor_topic, "WRITE", "DESCRIBE", "CREATE")
    for topic in starts:
        allow("starter", principals.starter, "TOPIC", topic, "WRITE", "DESCRIBE")
    replies_by_service: dict[str, set[str]] = defaultdict(set)
    topics_by_service: dict[str, set[str]] = defaultdict(set)
    for definition in definitions:
        for step in definition.steps.values():
            compensation = step.compensation.topic if step.compensation else None
            for topic in filter(None, (step.topic, compensation)):
                topics_by_service[service_of(topic)].add(topic)
                replies_by_service[service_of(topic)].add(definition.reply_topic)
    for service, topics in topics_by_service.items():
        role, user = f"participant {service}", principals.participant(service)
        for topic in topics:
            allow(role, user, "TOPIC", topic, "READ", "DESCRIBE")
            allow(role, user, "TOPIC", topic + DEAD_LETTER_SUFFIX, "WRITE", "DESCRIBE")
        for topic in replies_by_service[service]:
            allow(role, user, "TOPIC", topic, "WRITE", "DESCRIBE")
        allow(role, user, "GROUP", f"participant-{service}", "READ", "DESCRIBE")
    return sorted(rules)
