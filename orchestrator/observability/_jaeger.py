"""Reading traces back from Jaeger's HTTP query API (`GET /api/traces/{trace id}`), for the demo's
trace link and for the tests that check a saga's trace tree.

The API answers `{"data": [{"traceID", "spans": [...], "processes": {...}}]}`; each span names
its process (whose `serviceName` is the OpenTelemetry service.name), its parent as a CHILD_OF
reference and its OpenTelemetry links as FOLLOWS_FROM references, its attributes as `tags` and
its span events as `logs`. Standard library only: this runs in the demo, not just in tests.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The title of the page a Jaeger without UI assets serves instead of its UI.
_UI_PLACEHOLDER = "This is not the Jaeger UI you are looking for"


class JaegerUnavailableError(Exception):
    """Jaeger's query API did not answer (or answered something that is not Jaeger)."""


@dataclass(frozen=True, slots=True)
class JaegerSpan:
    span_id: str
    parent_id: str | None  # the CHILD_OF reference; None for a root
    links: tuple[str, ...]  # span ids of the FOLLOWS_FROM references (OpenTelemetry links)
    operation: str
    service: str
    start_us: int
    tags: Mapping[str, object]
    events: tuple[str, ...]  # the names of its span events (Jaeger's "logs")


@dataclass(frozen=True, slots=True)
class JaegerTrace:
    trace_id: str
    spans: tuple[JaegerSpan, ...]

    @property
    def services(self) -> set[str]:
        return {span.service for span in self.spans}

    def by_id(self) -> dict[str, JaegerSpan]:
        return {span.span_id: span for span in self.spans}

    def roots(self) -> list[JaegerSpan]:
        return [span for span in self.spans if span.parent_id is None]

    def orphans(self) -> list[JaegerSpan]:
        """Spans whose parent is not in the trace (lost, or never exported)."""
        known = self.by_id()
        return [s for s in self.spans if s.parent_id is not None and s.parent_id not in known]

    def children(self, span_id: str) -> list[JaegerSpan]:
        return sorted(
            (span for span in self.spans if span.parent_id == span_id), key=lambda s: s.start_us
        )


class JaegerQuery:
    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout_s = timeout_s

    def ui_url(self, trace_id: str) -> str:
        return f"{self.url}/trace/{trace_id}"

    def api_url(self, trace_id: str) -> str:
        return f"{self.url}/api/traces/{trace_id}"

    def serves_ui(self) -> bool:
        """False for a Jaeger built without the UI's assets (they come from the jaeger-ui
        project's JavaScript build, which the Go module does not carry): its UI page is a
        placeholder, its query API works."""
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=self._timeout_s) as reply:  # noqa: S310 - a URL the operator configured
                page = reply.read(64_000).decode("utf-8", "replace")
        except (OSError, ValueError) as exc:
            raise JaegerUnavailableError(f"{self.url}: {exc}") from exc
        return _UI_PLACEHOLDER not in page

    def trace(self, trace_id: str) -> JaegerTrace | None:
        """The trace as Jaeger holds it now, or None if it holds no span of it yet."""
        try:
            body = self._get(f"/api/traces/{trace_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise JaegerUnavailableError(f"{self.url}: HTTP {exc.code}") from exc
        data = body.get("data") or []
        return _parse(data[0]) if data else None

    def wait_for(
        self,
        trace_id: str,
        complete: Callable[[JaegerTrace], bool],
        *,
        within_s: float,
    ) -> JaegerTrace | None:
        """Poll until the trace satisfies `complete` (spans arrive in export batches, from
        several processes); the last trace seen if it never does, None if none arrived."""
        deadline = time.monotonic() + within_s
        seen: JaegerTrace | None = None
        while True:
            seen = self.trace(trace_id) or seen
            if (seen is not None and complete(seen)) or time.monotonic() >= deadline:
                return seen
            time.sleep(0.25)

    def _get(self, path: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=self._timeout_s) as reply:  # noqa: S310 - a URL the operator configured
                body = json.loads(reply.read())
        except urllib.error.HTTPError:
            raise
        except (OSError, ValueError) as exc:
            raise JaegerUnavailableError(f"{self.url}: {exc}") from exc
        if not isinstance(body, dict):
            raise JaegerUnavailableError(f"{self.url}: not Jaeger's query API")
        return body


def _parse(raw: Mapping[str, Any]) -> JaegerTrace:
    processes = {key: value.get("serviceName", "") for key, value in raw["processes"].items()}
    spans = []
    for span in raw["spans"]:
        references = span.get("references") or []
        parents = [r["spanID"] for r in references if r.get("refType") == "CHILD_OF"]
        spans.append(
            JaegerSpan(
                span_id=span["spanID"],
                parent_id=parents[0] if parents else None,
                links=tuple(r["spanID"] for r in references if r.get("refType") == "FOLLOWS_FROM"),
                operation=span["operationName"],
                service=processes.get(span["processID"], ""),
                start_us=int(span["startTime"]),
                tags={tag["key"]: tag["value"] for tag in span.get("tags") or []},
                events=tuple(_event_name(log) for log in span.get("logs") or []),
            )
        )
    return JaegerTrace(trace_id=raw["traceID"], spans=tuple(spans))


def _event_name(log: Mapping[str, Any]) -> str:
    for field in log.get("fields") or []:
        if field.get("key") == "event":
            return str(field.get("value"))
    return ""
