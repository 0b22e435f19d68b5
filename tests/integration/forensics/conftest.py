"""A compensated order saga run by the real worker and participants (World, from the worker
tests), and `sagactl saga ...` run in-process against its database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from orchestrator import headers as h
from orchestrator.cli import sagactl
from orchestrator.participant import start_message_id
from orchestrator.saga import saga_id_for
from sagas.order_services import Behaviour
from tests.integration.worker import isolated
from tests.integration.worker.conftest import World, make_world, world

__all__ = ["make_world", "world"]  # the worker tests' fixtures, used here as they are

Sagactl = Callable[..., Result]
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Sagactl:
    """`cli("show", ID, ...)` runs `sagactl saga show ID ...` configured for the world.

    The world's env names `tests.integration.worker.isolated:IsolatedOrder`, which that module
    defines only when imported with SAGA_TEST_SUFFIX set; here the world's own class is put
    where the CLI will look it up."""
    monkeypatch.setattr(isolated, "IsolatedOrder", world.saga, raising=False)
    env = world.child_env()
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(sagactl, ["saga", *args], env=env)

    return run


@pytest.fixture
def compensated_saga(world: World) -> str:
    """One order whose shipment is rejected: credit and inventory are reserved, then released
    in reverse order. Its start command carries a W3C traceparent, which the worker records
    with every event and the participants echo."""
    world.start_worker()
    world.start_participants(shipping=Behaviour(failure_rate=1.0))
    order = world.order(1)
    definition = world.saga.definition
    saga_id = saga_id_for(definition.name, definition.business_key(order))
    world.produce(
        definition.start_topic,
        world.codec.encode(definition.start_topic, order),
        key=saga_id.encode(),
        headers=[
            (h.MESSAGE_ID, start_message_id(saga_id)),
            (h.SAGA_ID, saga_id),
            (h.SAGA_TYPE, definition.name),
            (h.TRACEPARENT, TRACEPARENT),
        ],
    )
    assert world.wait_for([saga_id]) == {saga_id: "compensated"}
    return saga_id


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (
        f"exit {result.exit_code}; stdout: {result.stdout!r}; stderr: {result.stderr!r}; "
        f"exception: {result.exception!r}"
    )
    return result


def one_line_error(result: Result, code: int) -> str:
    """Failed with `code`, nothing on stdout, one error line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"crashed instead of reporting: {result.exception!r}"
    )
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [
        line for line in result.stderr.splitlines() if line.startswith(("sagactl: ", "Error: "))
    ]
    assert len(errors) == 1, result.stderr
    return errors[0]
