"""The built-in schema registry over HTTP: the Confluent REST subset that serializers use.

Services not written in Python use their standard Confluent serializers (Java's
KafkaAvroSerializer, franz-go's `sr`, ...) against this server; it keeps nothing of its own and
delegates every call to `PostgresSchemaRegistryClient`, so ids, versions and compatibility
levels are the ones the orchestrator's built-in registry already issues.

Served (JSON, Content-Type application/vnd.schemaregistry.v1+json, errors as
{"error_code": ..., "message": ...}):

    POST /subjects/{s}/versions              register -> {"id"}
    POST /subjects/{s}                       look a schema up -> {"subject","id","version","schema"}
    GET  /subjects                           subject names
    GET  /subjects/{s}/versions              version numbers
    GET  /subjects/{s}/versions/{v|latest}   one version
    GET  /schemas/ids/{id}                   {"schema"}
    GET  /schemas/ids/{id}/versions          [{"subject","version"}] (franz-go's CreateSchema)
    GET|PUT /config, /config/{s}             compatibility level (global, per subject)
    POST /compatibility/subjects/{s}/versions/{v|latest}   {"is_compatible"[, "messages"]}

Deviations from Confluent, on purpose: the registry is append-only (DELETE answers 405, as the
built-in client does: replaying the event store needs every version); Avro only; and
GET /config/{s} answers the subject's effective level (its own, else the global one), as
Confluent does with ?defaultToGlobal=true.
"""

from __future__ import annotations

import base64
import hmac
import json
import queue
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from confluent_kafka.schema_registry import RegisteredSchema, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from orchestrator.codec._compat import (
    DEFAULT_COMPATIBILITY,
    CompatibilityLevel,
    check_compatibility,
)
from orchestrator.codec._errors import RegistryUnavailableError
from orchestrator.codec._pg_registry import PostgresSchemaRegistryClient

__all__ = ["CONTENT_TYPE", "RegistryHttpServer"]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# Far above any schema of this project, far below what could exhaust the server's memory.
MAX_BODY_BYTES = 1024 * 1024
_UNAVAILABLE = 50001  # Confluent's "error in the backend data store"

Reply = tuple[int, Any]
Route = Callable[[PostgresSchemaRegistryClient, list[str], dict[str, str], Any], Reply]


class _HttpError(Exception):
    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def _registered(found: RegisteredSchema) -> dict[str, Any]:
    return {
        "subject": found.subject,
        "version": found.version,
        "id": found.schema_id,
        "schema": found.schema.schema_str,
    }


def _schema_of(body: Any) -> Schema:
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise _HttpError(422, 42201, "the body must be a JSON object with a string 'schema'")
    references = body.get("references") or []
    if references:
        raise _HttpError(422, 42201, "schema references are not supported: inline named types")
    return Schema(body["schema"], body.get("schemaType") or "AVRO")


def _version(text: str) -> int | str:
    if text == "latest":
        return "latest"
    if text.isdigit() and 0 < int(text) < 2**31:
        return int(text)
    raise _HttpError(422, 42202, f"invalid version {text!r}: a positive integer or 'latest'")


def _level(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("compatibility"), str):
        raise _HttpError(422, 42203, "the body must be a JSON object with a 'compatibility'")
    return str(body["compatibility"])


# --- routes: (registry, path parameters, query, body) -> (status, JSON reply) -------------------


def _register(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    registered = registry.register_schema_full_response(params[0], _schema_of(body))
    return 200, {"id": registered.schema_id}


def _lookup(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    subject = params[0]
    schema = _schema_of(body)
    if not registry.get_subjects(subject_prefix=subject).count(subject):
        raise _HttpError(404, 40401, f"Subject {subject!r} not found")
    return 200, _registered(registry.lookup_schema(subject, schema))


def _subjects(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    return 200, registry.get_subjects(subject_prefix=query.get("subjectPrefix"))


def _versions(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    return 200, registry.get_versions(params[0])


def _one_version(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    version = _version(params[1])
    if not registry.get_subjects(subject_prefix=params[0]).count(params[0]):
        raise _HttpError(404, 40401, f"Subject {params[0]!r} not found")
    return 200, _registered(registry.get_version(params[0], version))  # type: ignore[arg-type]


def _schema_by_id(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    if not params[0].isdigit():
        raise _HttpError(404, 40403, f"Schema {params[0]!r} not found")
    schema = registry.get_schema(int(params[0]))
    return 200, {"schema": schema.schema_str, "schemaType": schema.schema_type or "AVRO"}


def _usages_of_id(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    if not params[0].isdigit():
        raise _HttpError(404, 40403, f"Schema {params[0]!r} not found")
    schema_id = int(params[0])
    registry.get_schema(schema_id)  # 40403 for an unknown id, as Confluent answers
    # One query rather than a walk over every subject; the client has no public call for it.
    rows = registry._run(
        lambda conn: conn.execute(
            "SELECT subject, version FROM schema_registry.subject_versions WHERE schema_id = %s"
            " ORDER BY subject, version",
            (schema_id,),
        ).fetchall()
    )
    return 200, [{"subject": subject, "version": version} for subject, version in rows]


def _get_config(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    return 200, {"compatibilityLevel": registry.get_compatibility(params[0] if params else None)}


def _put_config(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    level = registry.set_compatibility(params[0] if params else None, _level(body))
    return 200, {"compatibility": level}


def _test_compatibility(
    registry: PostgresSchemaRegistryClient, params: list[str], query: dict[str, str], body: Any
) -> Reply:
    subject, version = params[0], _version(params[1])
    candidate = _schema_of(body)
    against = registry.get_version(subject, version)  # type: ignore[arg-type]
    level = CompatibilityLevel(registry.get_compatibility(subject))
    # Against the one version named, as Confluent does; the level's direction still applies.
    problems = check_compatibility(
        candidate.schema_str or "", [(against.version or 0, against.schema.schema_str or "")], level
    )
    reply: dict[str, Any] = {"is_compatible": not problems}
    if query.get("verbose", "").lower() == "true":
        reply["messages"] = [p.describe() for p in problems]
    return 200, reply


_SEGMENT = "([^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    ("POST", re.compile(f"/subjects/{_SEGMENT}/versions"), _register),
    ("POST", re.compile(f"/subjects/{_SEGMENT}"), _lookup),
    ("GET", re.compile("/subjects"), _subjects),
    ("GET", re.compile(f"/subjects/{_SEGMENT}/versions"), _versions),
    ("GET", re.compile(f"/subjects/{_SEGMENT}/versions/{_SEGMENT}"), _one_version),
    ("GET", re.compile(f"/schemas/ids/{_SEGMENT}"), _schema_by_id),
    ("GET", re.compile(f"/schemas/ids/{_SEGMENT}/versions"), _usages_of_id),
    ("GET", re.compile("/config"), _get_config),
    ("GET", re.compile(f"/config/{_SEGMENT}"), _get_config),
    ("PUT", re.compile("/config"), _put_config),
    ("PUT", re.compile(f"/config/{_SEGMENT}"), _put_config),
    (
        "POST",
        re.compile(f"/compatibility/subjects/{_SEGMENT}/versions/{_SEGMENT}"),
        _test_compatibility,
    ),
]


class _Handler(BaseHTTPRequestHandler):
    server: RegistryHttpServer
    protocol_version = "HTTP/1.1"  # keep-alive: serializers reuse their connection

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: serializers ask once per schema and the worker logs what matters."""

    def _serve(self, method: str) -> None:
        try:
            status, reply = self._dispatch(method)
        except _HttpError as exc:
            status, reply = exc.status, {"error_code": exc.error_code, "message": str(exc)}
        except SchemaRegistryError as exc:
            status = exc.http_status_code
            reply = {"error_code": exc.error_code, "message": exc.error_message}
        except (RegistryUnavailableError, RuntimeError) as exc:
            # The database is down, or its registry tables are not migrated yet: the client
            # may retry, as it would against Confluent's registry with its store unavailable.
            status, reply = 500, {"error_code": _UNAVAILABLE, "message": str(exc)}
        payload = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="schema-registry"')
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self, method: str) -> Reply:
        body = self._body()  # read even when refused below, so keep-alive stays in step
        if not self.server.authorised(self.headers.get("Authorization")):
            raise _HttpError(401, 401, "Unauthorized")
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        allowed = False
        for route_method, pattern, route in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method != method:
                allowed = True
                continue
            with self.server.client() as registry:
                return route(registry, [unquote(g) for g in match.groups()], query, body)
        if allowed or method == "DELETE":
            raise _HttpError(405, 405, f"{method} is not supported on {path}")
        raise _HttpError(404, 404, f"no such resource: {path}")

    def _body(self) -> Any:
        length_text = self.headers.get("Content-Length") or "0"
        if not length_text.isdigit():
            raise _HttpError(400, 400, "invalid Content-Length")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be parsed as the next request
            raise _HttpError(413, 413, f"body of {length} bytes exceeds {MAX_BODY_BYTES}")
        if length == 0:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _HttpError(400, 400, f"the body is not JSON: {exc}") from None


class RegistryHttpServer(ThreadingHTTPServer):
    """Serves one built-in registry database; `pool_size` requests touch the database at once.

    `basic_auth` ("user:password"), when given, is required of every request (401 otherwise).
    """

    daemon_threads = True

    def __init__(
        self,
        database_url: str,
        address: tuple[str, int],
        *,
        basic_auth: str | None = None,
        pool_size: int = 4,
        default_compatibility: CompatibilityLevel = DEFAULT_COMPATIBILITY,
    ) -> None:
        self._expected_auth = (
            None
            if basic_auth is None
            else "Basic " + base64.b64encode(basic_auth.encode()).decode()
        )
        # One client per concurrent request: each holds one connection, and the per-subject
        # advisory lock in the database (not a lock here) orders concurrent registrations.
        self._clients: queue.Queue[PostgresSchemaRegistryClient] = queue.Queue()
        for _ in range(pool_size):
            self._clients.put(
                PostgresSchemaRegistryClient(
                    database_url, default_compatibility=default_compatibility
                )
            )
        self._pool_size = pool_size
        # Last: a failed bind calls server_close, which closes the pool made above.
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def authorised(self, header: str | None) -> bool:
        if self._expected_auth is None:
            return True
        return header is not None and hmac.compare_digest(header, self._expected_auth)

    @contextmanager
    def client(self) -> Iterator[PostgresSchemaRegistryClient]:
        registry = self._clients.get()
        try:
            yield registry
        finally:
            self._clients.put(registry)

    def server_close(self) -> None:
        super().server_close()
        for _ in range(self._pool_size):
            self._clients.get().close()
