"""`sagactl registry serve`: the built-in schema registry over Confluent's REST API."""

from __future__ import annotations

import threading

import click

from orchestrator.cli._output import EXIT_USAGE, fail
from orchestrator.cli._reach import Needs, require_postgres, requires
from orchestrator.cli._signals import stop_on_signals
from orchestrator.cli._types import Credentials, HostAddress
from orchestrator.codec import RegistryHttpServer
from orchestrator.config import Settings

BASIC_AUTH_ENV = "SAGA_REGISTRY_SERVER_BASIC_AUTH"


@click.group()
def registry() -> None:
    """The built-in schema registry, served to services not written in Python."""


@click.command()
@click.option(
    "--host",
    type=HostAddress(),
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8081, show_default=True, help="TCP port."
)
@click.option(
    "--basic-auth",
    envvar=BASIC_AUTH_ENV,
    type=Credentials(),
    default=None,
    help=f"Require these credentials of every request (prefer the {BASIC_AUTH_ENV} variable: "
    "arguments are visible to other users of the machine).",
)
@requires(Needs.DATABASE)
def serve(host: str, port: int, basic_auth: str | None) -> None:
    """Serve the registry in SAGA_DATABASE_URL's database until SIGTERM.

    Confluent's REST subset that serializers use (register, look up, fetch by id, subjects,
    versions, compatibility levels and tests), so Java, Go or any Confluent serializer can
    share the orchestrator's schema ids. Exit 2 for a bad option or a port in use, 3 when
    PostgreSQL does not answer.
    """
    database_url = Settings.from_env().database_url  # secrets from files, database TLS
    require_postgres(database_url)
    try:
        server = RegistryHttpServer(database_url, (host, port), basic_auth=basic_auth)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_USAGE) from None
    stop = stop_on_signals()
    thread = threading.Thread(target=server.serve_forever, name="registry-http", daemon=True)
    thread.start()
    click.echo(f"schema registry serving on {server.url}", err=True)
    try:
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass
    finally:
        server.shutdown()
        server.server_close()


registry.add_command(serve)
