"""The event-store contract: one suite every `EventStore` implementation must pass.

Subclasses provide a `store` fixture yielding an EMPTY store (tests read the whole log):
tests/unit/event_store/test_memory_store.py and
tests/integration/event_store/test_postgres_store.py.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from event_store import (
    GENESIS_HASH,
    NO_STREAM,
    CatchUpSubscription,
    ConcurrencyError,
    EventStore,
    InMemoryCheckpointStore,
    InvalidEventError,
    NewEvent,
    PayloadTooLargeError,
    RecordedEvent,
    StreamAppend,
    UnknownPositionError,
    verify_stream,
)
from event_store._canonical import canonical_event_bytes, canonical_json, chain_hash

MAX_PAYLOAD = 4096


def events(*types: str, **data: Any) -> list[NewEvent]:
    return [NewEvent(kind, {"n": index, **data}) for index, kind in enumerate(types)]


class EventStoreContract:
    """Abstract: the `store` fixture must yield an empty store with max_payload_bytes=4096."""

    @pytest.fixture
    def store(self) -> EventStore:
        raise NotImplementedError

    def settle(self, store: EventStore) -> None:
        """Make everything written so far visible to read_all.

        A no-op where appends are visible at once; PostgreSQL's gap-safe read_all holds events
        back while any older transaction on the server is open (another suite's, say).
        """

    def everything(self, store: EventStore) -> list[RecordedEvent]:
        self.settle(store)
        result: list[RecordedEvent] = []
        after = 0
        while page := store.read_all(after, 7):
            result.extend(page)
            after = page[-1].position
        return result

    # -- append and read back ----------------------------------------------------------------

    def test_append_to_a_new_stream_numbers_versions_from_one(self, store: EventStore) -> None:
        result = store.append("order-1", "Order", NO_STREAM, events("A", "B", "C"))
        assert (result.stream_id, result.first_version, result.last_version) == ("order-1", 1, 3)
        assert not result.deduplicated
        assert list(result.positions) == sorted(result.positions)
        assert len(set(result.positions)) == 3
        read = store.read_stream("order-1")
        assert [e.version for e in read] == [1, 2, 3]
        assert [e.event_type for e in read] == ["A", "B", "C"]
        assert [e.position for e in read] == list(result.positions)
        assert store.stream_version("order-1") == 3

    def test_recorded_events_carry_everything_that_was_appended(self, store: EventStore) -> None:
        new = NewEvent(
            "CreditReserved",
            {"amount": 1999, "currency": "EUR", "lines": [{"sku": "A-1", "qty": 2}], "ok": True},
            schema_version=3,
            metadata={"correlation_id": "c-1", "causation_id": "m-0", "actor": "worker-7"},
        )
        before = datetime.now(UTC) - timedelta(minutes=5)
        store.append("pay-1", "Payment", 0, [new], message_id="m-1")
        (event,) = store.read_stream("pay-1")
        assert event.stream_type == "Payment"
        assert event.schema_version == 3
        assert event.data == new.data
        assert event.metadata == {**new.metadata, "message_id": "m-1"}
        assert event.message_id == "m-1"
        assert event.recorded_at.tzinfo is not None
        assert before < event.recorded_at < datetime.now(UTC) + timedelta(minutes=5)
        assert len(event.hash) == 64

    def test_appending_continues_at_the_expected_version(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A"))
        result = store.append("s-1", "T", 1, events("B", "C"))
        assert (result.first_version, result.last_version) == (2, 3)
        assert [e.event_type for e in store.read_stream("s-1")] == ["A", "B", "C"]

    def test_unknown_stream_reads_empty_and_is_at_version_zero(self, store: EventStore) -> None:
        assert store.read_stream("nobody") == []
        assert store.stream_version("nobody") == 0

    def test_returned_data_cannot_change_history(self, store: EventStore) -> None:
        payload = {"items": [1, 2]}
        store.append("s-1", "T", 0, [NewEvent("A", payload)])
        payload["items"].append(3)
        store.read_stream("s-1")[0].data["items"].append(4)
        assert store.read_stream("s-1")[0].data == {"items": [1, 2]}

    def test_integral_floats_are_stored_as_integers(self, store: EventStore) -> None:
        # jsonb cannot keep 1.0 apart from 1; the store says so up front, identically everywhere.
        store.append("s-1", "T", 0, [NewEvent("A", {"a": 1.0, "b": 0.25, "c": 1e20, "d": -0.0})])
        data = store.read_stream("s-1")[0].data
        assert data == {"a": 1, "b": 0.25, "c": 10**20, "d": 0}
        assert type(data["a"]) is int
        assert type(data["b"]) is float

    # -- optimistic concurrency --------------------------------------------------------------

    def test_stale_expected_version_raises_a_typed_error(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A", "B"))
        with pytest.raises(ConcurrencyError) as caught:
            store.append("s-1", "T", 1, events("C"))
        error = caught.value
        assert (error.stream_id, error.expected_version, error.actual_version) == ("s-1", 1, 2)
        assert "s-1" in str(error)
        assert "1" in str(error)
        assert "2" in str(error)
        assert store.stream_version("s-1") == 2

    def test_expected_version_ahead_of_the_stream_is_a_conflict(self, store: EventStore) -> None:
        with pytest.raises(ConcurrencyError) as caught:
            store.append("s-1", "T", 4, events("A"))
        assert caught.value.actual_version == 0
        assert store.read_stream("s-1") == []

    def test_new_stream_must_not_exist(self, store: EventStore) -> None:
        store.append("s-1", "T", NO_STREAM, events("A"))
        with pytest.raises(ConcurrencyError):
            store.append("s-1", "T", NO_STREAM, events("A"))

    def test_a_stream_keeps_its_type(self, store: EventStore) -> None:
        store.append("s-1", "Order", 0, events("A"))
        with pytest.raises(InvalidEventError, match="Order"):
            store.append("s-1", "Payment", 1, events("B"))
        assert store.stream_version("s-1") == 1

    # -- idempotency ---------------------------------------------------------------------------

    def test_a_recorded_message_id_returns_the_earlier_result(self, store: EventStore) -> None:
        first = store.append("s-1", "T", 0, events("A", "B"), message_id="msg-1")
        again = store.append("s-1", "T", 0, events("A", "B"), message_id="msg-1")
        assert again.deduplicated
        assert (again.first_version, again.last_version, again.positions) == (
            first.first_version,
            first.last_version,
            first.positions,
        )
        assert store.stream_version("s-1") == 2

    def test_a_redelivery_after_later_appends_is_still_recognised(self, store: EventStore) -> None:
        first = store.append("s-1", "T", 0, events("A"), message_id="msg-1")
        store.append("s-1", "T", 1, events("B"), message_id="msg-2")
        # The redelivered message carries the version it was decided on: stale, yet no conflict.
        again = store.append("s-1", "T", 0, events("A"), message_id="msg-1")
        assert again.deduplicated
        assert again.positions == first.positions
        assert store.stream_version("s-1") == 2

    def test_message_ids_are_per_stream(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A"), message_id="msg-1")
        other = store.append("s-2", "T", 0, events("A"), message_id="msg-1")
        assert not other.deduplicated

    def test_the_message_id_is_in_every_events_metadata(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A", "B", "C"), message_id="msg-9")
        assert [e.message_id for e in store.read_stream("s-1")] == ["msg-9"] * 3

    def test_appends_without_message_id_are_not_deduplicated(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A"))
        store.append("s-1", "T", 1, events("A"))
        assert store.stream_version("s-1") == 2

    def test_a_conflicting_message_id_in_metadata_is_refused(self, store: EventStore) -> None:
        bad = [NewEvent("A", {}, metadata={"message_id": "other"})]
        with pytest.raises(InvalidEventError, match="message_id"):
            store.append("s-1", "T", 0, bad, message_id="msg-1")
        assert store.stream_version("s-1") == 0

    # -- batches ---------------------------------------------------------------------------------

    def test_a_batch_appends_every_stream(self, store: EventStore) -> None:
        store.append("b", "T", 0, events("A"))
        result = store.append_batch(
            [
                StreamAppend("a", "T", 0, events("A", "B"), message_id="m-a"),
                StreamAppend("b", "T", 1, events("B")),
                StreamAppend("c", "T", 0, events("A")),
            ]
        )
        assert set(result.appended) == {"a", "b", "c"}
        assert not result.conflicts
        assert (result.appended["b"].first_version, result.appended["b"].last_version) == (2, 2)
        assert store.stream_version("a") == 2
        assert store.stream_version("c") == 1

    def test_a_conflict_is_reported_per_stream_and_the_rest_commit(self, store: EventStore) -> None:
        store.append("busy", "T", 0, events("A", "B"))
        result = store.append_batch(
            [
                StreamAppend("fresh", "T", 0, events("A")),
                StreamAppend("busy", "T", 1, events("C")),
                StreamAppend("other", "T", 0, events("A", "B")),
            ]
        )
        assert set(result.appended) == {"fresh", "other"}
        conflict = result.conflicts["busy"]
        assert (conflict.stream_id, conflict.expected_version, conflict.actual_version) == (
            "busy",
            1,
            2,
        )
        assert store.stream_version("busy") == 2
        assert store.stream_version("fresh") == 1
        assert store.stream_version("other") == 2

    def test_a_batch_reports_duplicates_as_deduplicated(self, store: EventStore) -> None:
        first = store.append("s-1", "T", 0, events("A"), message_id="m-1")
        result = store.append_batch(
            [
                StreamAppend("s-1", "T", 0, events("A"), message_id="m-1"),
                StreamAppend("s-2", "T", 0, events("A"), message_id="m-1"),
            ]
        )
        assert result.appended["s-1"].deduplicated
        assert result.appended["s-1"].positions == first.positions
        assert not result.appended["s-2"].deduplicated
        assert len(self.everything(store)) == 2

    def test_a_batch_naming_a_stream_twice_is_refused(self, store: EventStore) -> None:
        with pytest.raises(InvalidEventError, match="twice"):
            store.append_batch(
                [StreamAppend("s", "T", 0, events("A")), StreamAppend("s", "T", 1, events("B"))]
            )
        assert self.everything(store) == []

    def test_an_empty_batch_does_nothing(self, store: EventStore) -> None:
        result = store.append_batch([])
        assert not result.appended
        assert not result.conflicts

    def test_one_invalid_append_refuses_the_whole_batch(self, store: EventStore) -> None:
        with pytest.raises(InvalidEventError):
            store.append_batch(
                [StreamAppend("good", "T", 0, events("A")), StreamAppend("bad id!", "T", 0, [])]
            )
        assert self.everything(store) == []

    # -- reading ---------------------------------------------------------------------------------

    def test_read_stream_between_versions(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A", "B", "C", "D", "E"))
        assert [e.version for e in store.read_stream("s-1", 2)] == [2, 3, 4, 5]
        assert [e.version for e in store.read_stream("s-1", 2, 4)] == [2, 3, 4]
        assert [e.version for e in store.read_stream("s-1", 1, 1)] == [1]
        assert [e.version for e in store.read_stream("s-1", to_version=2)] == [1, 2]
        assert store.read_stream("s-1", 4, 3) == []
        assert store.read_stream("s-1", 6) == []
        with pytest.raises(ValueError, match="from_version"):
            store.read_stream("s-1", 0)

    def test_point_in_time_replay(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A"))
        store.append("s-1", "T", 1, events("B", "C"))
        time.sleep(0.002)  # on purpose: D's recorded_at must differ from C's on a real clock
        store.append("s-1", "T", 3, events("D"))
        full = store.read_stream("s-1")
        assert [e.recorded_at for e in full] == sorted(e.recorded_at for e in full)
        assert store.read_stream_until("s-1", full[0].recorded_at) == []
        assert [e.version for e in store.read_stream_until("s-1", full[1].recorded_at)] == [1]
        assert [e.version for e in store.read_stream_until("s-1", full[3].recorded_at)] == [1, 2, 3]
        later = full[3].recorded_at + timedelta(seconds=1)
        assert [e.version for e in store.read_stream_until("s-1", later)] == [1, 2, 3, 4]
        with pytest.raises(ValueError, match="timezone"):
            store.read_stream_until("s-1", datetime(2030, 1, 1))  # naive on purpose

    def test_read_all_pages_through_every_event_once(self, store: EventStore) -> None:
        for index in range(10):
            store.append(f"s-{index % 3}", "T", (index // 3) * 2, events("A", "B"))
        seen = self.everything(store)
        assert len(seen) == 20
        assert len({e.position for e in seen}) == 20
        for stream in ("s-0", "s-1", "s-2"):
            versions = [e.version for e in seen if e.stream_id == stream]
            assert versions == sorted(versions) == list(range(1, len(versions) + 1))

    def test_read_all_respects_after_and_limit(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A", "B", "C", "D"))
        self.settle(store)
        first = store.read_all(0, 2)
        assert [e.version for e in first] == [1, 2]
        rest = store.read_all(first[-1].position, 100)
        assert [e.version for e in rest] == [3, 4]
        assert store.read_all(rest[-1].position, 100) == []
        with pytest.raises(ValueError, match="limit"):
            store.read_all(0, 0)
        with pytest.raises(ValueError, match="after_position"):
            store.read_all(-1)

    def test_read_all_refuses_a_position_it_never_handed_out(self, store: EventStore) -> None:
        result = store.append("s-1", "T", 0, events("A"))
        with pytest.raises(UnknownPositionError) as caught:
            store.read_all(result.positions[-1] + 1000)
        assert caught.value.position == result.positions[-1] + 1000

    # -- bad input -------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "stream_id",
        ["", " ", "has space", "-leading-dash", "x" * 201, "semi;colon", "ünïcode", "a/b"],
    )
    def test_invalid_stream_ids_are_refused(self, store: EventStore, stream_id: str) -> None:
        with pytest.raises(InvalidEventError, match="invalid stream id"):
            store.append(stream_id, "T", 0, events("A"))
        assert self.everything(store) == []

    def test_valid_stream_id_alphabet(self, store: EventStore) -> None:
        stream_id = "Order:2024-01.x_y@z" + "9" * 181
        store.append(stream_id, "T", 0, events("A"))
        assert store.stream_version(stream_id) == 1

    def test_an_empty_event_list_is_refused(self, store: EventStore) -> None:
        with pytest.raises(InvalidEventError, match="empty"):
            store.append("s-1", "T", 0, [])
        assert store.stream_version("s-1") == 0

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            ({"when": datetime(2024, 1, 1, tzinfo=UTC)}, "not JSON-serialisable"),
            ({"tags": {"a", "b"}}, "not JSON-serialisable"),
            ({"blob": b"bytes"}, "not JSON-serialisable"),
            ({"x": math.nan}, "not JSON-serialisable"),
            ({"x": math.inf}, "not JSON-serialisable"),
            ({1: "int key"}, "not JSON-serialisable"),
            ({"nul": "a\x00b"}, "NUL"),
            ({"lone": "\ud800"}, "not JSON-serialisable"),
        ],
    )
    def test_data_that_is_not_json_is_refused(
        self, store: EventStore, data: dict[Any, Any], reason: str
    ) -> None:
        with pytest.raises(InvalidEventError, match=reason):
            store.append("s-1", "T", 0, [NewEvent("A", {"ok": 1}), NewEvent("B", data)])
        assert store.stream_version("s-1") == 0

    def test_data_must_be_an_object(self, store: EventStore) -> None:
        with pytest.raises(InvalidEventError, match="JSON object"):
            store.append("s-1", "T", 0, [NewEvent("A", [1, 2])])  # type: ignore[arg-type]  # on purpose

    def test_metadata_must_be_json_too(self, store: EventStore) -> None:
        with pytest.raises(InvalidEventError, match="metadata"):
            store.append("s-1", "T", 0, [NewEvent("A", {}, metadata={"at": object()})])

    @pytest.mark.parametrize(
        "event",
        [
            NewEvent("", {}),
            NewEvent("A", {}, schema_version=0),
            NewEvent("A", {}, schema_version=True),
            NewEvent("x" * 201, {}),
        ],
    )
    def test_event_type_and_schema_version_are_checked(
        self, store: EventStore, event: NewEvent
    ) -> None:
        with pytest.raises(InvalidEventError):
            store.append("s-1", "T", 0, [event])
        assert store.stream_version("s-1") == 0

    def test_stream_type_and_expected_version_are_checked(self, store: EventStore) -> None:
        with pytest.raises(InvalidEventError, match="stream_type"):
            store.append("s-1", "", 0, events("A"))
        with pytest.raises(InvalidEventError, match="expected_version"):
            store.append("s-1", "T", -1, events("A"))

    def test_a_payload_over_the_limit_is_refused(self, store: EventStore) -> None:
        big = NewEvent("A", {"blob": "x" * MAX_PAYLOAD})
        with pytest.raises(PayloadTooLargeError, match=str(MAX_PAYLOAD)):
            store.append("s-1", "T", 0, [NewEvent("Small", {}), big])
        assert store.stream_version("s-1") == 0
        # Just under the limit is fine: the limit counts data plus metadata as stored.
        fits = NewEvent("A", {"blob": "x" * (MAX_PAYLOAD - 100)})
        store.append("s-1", "T", 0, [fits])
        assert store.stream_version("s-1") == 1

    # -- hash chain ------------------------------------------------------------------------------

    def test_every_event_is_chained_to_the_one_before(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A", "B"), message_id="m-1")
        store.append("s-1", "T", 2, [NewEvent("C", {"é": "ü", "f": 2.5, "nested": {"z": [None]}})])
        previous = GENESIS_HASH
        for event in store.read_stream("s-1"):
            canonical = canonical_event_bytes(
                stream_id=event.stream_id,
                stream_type=event.stream_type,
                version=event.version,
                event_type=event.event_type,
                schema_version=event.schema_version,
                data_json=canonical_json(event.data),
                metadata_json=canonical_json(event.metadata),
                recorded_at=event.recorded_at,
            )
            assert event.hash == chain_hash(previous, canonical)
            previous = event.hash
        assert verify_stream(store.read_stream("s-1")) is None

    def test_verify_passes_on_untouched_history(self, store: EventStore) -> None:
        verify = getattr(store, "verify", None)
        assert callable(verify), "every store offers verify(stream_id | None)"
        store.append("s-1", "T", 0, events("A", "B"))
        store.append("s-2", "T", 0, events("A"))
        report = verify()
        assert report.ok
        assert report.streams_checked == 2
        assert report.events_checked == 3
        single = verify("s-1")
        assert single.ok
        assert single.events_checked == 2

    # -- subscriptions ---------------------------------------------------------------------------

    def test_a_catch_up_subscription_sees_every_event_once(self, store: EventStore) -> None:
        for index in range(5):
            store.append(f"s-{index}", "T", 0, events("A", "B"))
        seen: list[RecordedEvent] = []
        checkpoints = InMemoryCheckpointStore()
        subscription = CatchUpSubscription(store, checkpoints, "test", seen.extend, batch_size=3)
        self.settle(store)
        assert subscription.catch_up() == 10
        store.append("s-0", "T", 2, events("C"))
        self.settle(store)
        # A new subscription object resumes from the stored checkpoint, not from the start.
        resumed = CatchUpSubscription(store, checkpoints, "test", seen.extend, batch_size=3)
        assert resumed.catch_up() == 1
        assert len(seen) == 11
        assert len({e.position for e in seen}) == 11
        assert checkpoints.load("test") == seen[-1].position

    def test_a_failing_handler_does_not_move_the_checkpoint(self, store: EventStore) -> None:
        store.append("s-1", "T", 0, events("A"))
        self.settle(store)
        checkpoints = InMemoryCheckpointStore()

        def broken(_: object) -> None:
            raise RuntimeError("handler failed")

        subscription = CatchUpSubscription(store, checkpoints, "test", broken)
        with pytest.raises(RuntimeError):
            subscription.poll()
        assert checkpoints.load("test") == 0
