"""The leader's measurement of the saga gauges: sagas in flight and sagas stuck, per type.

Both come from the saga_instances projection, never from the event log: in flight is a count
over the status index, stuck is `orchestrator.projections.stuck_sagas` (the one query that says
what "no progress" means, shared with `sagactl saga list --stuck`), over the active index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from orchestrator.observability import Metrics
from orchestrator.projections import ACTIVE_STATUSES, stuck_sagas

# A gauge that says "10,000" already pages; counting further would read rows nobody needs.
STUCK_CAP: Final = 10_000

_IN_FLIGHT_SQL = """
SELECT saga_type, count(*) FROM saga_instances WHERE status = ANY(%s) GROUP BY saga_type
"""


class SagaGaugeProbe:
    def __init__(
        self, conninfo: str, metrics: Metrics, saga_types: Iterable[str], stuck_after: timedelta
    ) -> None:
        self._conninfo = conninfo
        self._metrics = metrics
        self._saga_types = sorted(saga_types)
        self._stuck_after = stuck_after
        self._conn: psycopg.Connection[Any] | None = None

    def measure(self, now: datetime) -> None:
        """Count, and publish the counts of the saga types this worker runs."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        try:
            rows = self._conn.execute(_IN_FLIGHT_SQL, (list(ACTIVE_STATUSES),)).fetchall()
            stuck = stuck_sagas(self._conn, self._stuck_after, now, STUCK_CAP)
        except psycopg.OperationalError:
            self._conn.close()
            raise
        in_flight = {str(saga_type): int(count) for saga_type, count in rows}
        stuck_by_type = Counter(instance.saga_type for instance in stuck)
        self._metrics.set_saga_gauges(in_flight, stuck_by_type, self._saga_types)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
