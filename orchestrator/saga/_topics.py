"""Logical destinations to Kafka topics: saga code names a service, configuration the topic.

The default mapping is the convention every recorded history was written with (``credit`` ->
``credit.commands``, ``<saga>.start``, ``<saga>.replies``), so a saga declared with
destinations sends to the same topics as one that spelled them out: topic names are recorded in
``CommandIssued`` and must not change under a replayed history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# Kafka's own limit on topic names.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@dataclass(frozen=True, slots=True)
class Topics:
    """How a saga's destinations, start and reply topics are named.

    ``routes`` sends a destination to a topic that does not follow the ``<destination>.commands``
    convention; ``prefix`` and ``suffix`` wrap every topic name, so a test (or a tenant) runs
    the same saga on topics of its own.
    """

    prefix: str = ""
    suffix: str = ""
    routes: Mapping[str, str] = field(default_factory=dict)

    def command(self, destination: str) -> str:
        return self._wrap(self.routes.get(destination, f"{destination}.commands"))

    def start(self, saga_name: str) -> str:
        return self._wrap(f"{saga_name}.start")

    def replies(self, saga_name: str) -> str:
        return self._wrap(f"{saga_name}.replies")

    def _wrap(self, topic: str) -> str:
        name = f"{self.prefix}{topic}{self.suffix}"
        if not _TOPIC.match(name):
            raise ValueError(f"{name!r} is not a valid Kafka topic name")
        return name


DEFAULT_TOPICS = Topics()
