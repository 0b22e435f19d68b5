"""The checkpoint contract (`event_store.CheckpointStore`): where the outbox relay and other
subscriptions resume. PostgreSQL in tests/integration/runtime/test_postgres_ports.py, memory in
tests/unit/runtime/test_memory_ports.py."""

from __future__ import annotations

import pytest

from event_store import CheckpointStore


class CheckpointContract:
    """Abstract: `checkpoints` yields a store holding no checkpoint."""

    @pytest.fixture
    def checkpoints(self) -> CheckpointStore:
        raise NotImplementedError

    def test_a_subscription_that_never_ran_starts_at_zero(
        self, checkpoints: CheckpointStore
    ) -> None:
        assert checkpoints.load("never-ran") == 0

    def test_what_is_saved_is_loaded(self, checkpoints: CheckpointStore) -> None:
        checkpoints.save("relay", 41)
        assert checkpoints.load("relay") == 41
        checkpoints.save("relay", 42)
        assert checkpoints.load("relay") == 42

    def test_subscriptions_do_not_share_checkpoints(self, checkpoints: CheckpointStore) -> None:
        checkpoints.save("outbox-relay:a", 7)
        checkpoints.save("outbox-relay:b", 9)
        assert (checkpoints.load("outbox-relay:a"), checkpoints.load("outbox-relay:b")) == (7, 9)

    def test_a_checkpoint_may_be_moved_back(self, checkpoints: CheckpointStore) -> None:
        # An operator replaying a subscription from earlier: the store does not second-guess.
        checkpoints.save("relay", 100)
        checkpoints.save("relay", 3)
        assert checkpoints.load("relay") == 3
