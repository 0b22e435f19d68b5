"""The leader-lease contract: at most one holder per consumer group, and a holder that goes
away hands the lease over. PostgreSQL (session advisory lock) in
tests/integration/runtime/test_postgres_ports.py, memory in
tests/unit/runtime/test_memory_ports.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from orchestrator.runtime import LeaderLease
from tests.support import eventually

Leases = Callable[[str], LeaderLease]


class LeaderLeaseContract:
    """Abstract: `leases` makes a lease for a consumer group; `lose` ends a holder's session
    the way a crash does, without its cooperation."""

    @pytest.fixture
    def leases(self) -> Leases:
        raise NotImplementedError

    def lose(self, lease: LeaderLease) -> None:
        raise NotImplementedError

    @staticmethod
    def group() -> str:
        return f"lease-{uuid.uuid4().hex[:8]}"

    def test_one_holder_per_group_and_groups_apart(self, leases: Leases) -> None:
        group = self.group()
        first, second, other = leases(group), leases(group), leases(f"{group}-other")
        try:
            assert first.holds()
            assert first.holds(), "holding is idempotent"
            assert not second.holds()
            assert other.holds(), "each consumer group has a lease of its own"
        finally:
            for lease in (first, second, other):
                lease.release()

    def test_a_released_lease_is_taken_by_the_next(self, leases: Leases) -> None:
        group = self.group()
        first, second = leases(group), leases(group)
        try:
            assert first.holds()
            first.release()
            assert second.holds()
            assert not first.holds(), "the lease was taken meanwhile"
        finally:
            first.release()
            second.release()

    def test_a_lost_holder_hands_the_lease_over_and_learns_it(self, leases: Leases) -> None:
        group = self.group()
        first, second = leases(group), leases(group)
        try:
            assert first.holds()
            self.lose(first)
            eventually(second.holds, "the lease handed over", timeout=10, interval=0.05)
            eventually(
                first.holds,
                "the old holder learnt it lost the lease",
                until=lambda holds: not holds,
                timeout=5,
                interval=0.05,
            )
            assert second.holds()
        finally:
            first.release()
            second.release()
