"""A loopback HTTP server that replays recorded API answers and records every request it receives.

Tests register routes (method + path, optionally a predicate on the request) with one or more replies;
replies are served in order and the last one repeats. Every request is kept (`requests`) with its
path, raw and parsed query string, headers and JSON body, so a test can assert exactly what a plugin
sent. Nothing leaves 127.0.0.1; the server logs nothing (it stands in for the remote service, whose
own logs would see the key).
"""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "api"


def fixture(relative: str) -> Any:
    """A recorded JSON answer from ../shared/fixtures/api/<relative>."""
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


def fixture_text(relative: str) -> str:
    return (FIXTURES / relative).read_text(encoding="utf-8")


def recorded_headers(relative: str) -> dict[str, str]:
    """The response headers of a `*.headers.json` recording (rate-limit headers and the like)."""
    data = fixture(relative)
    headers = data.get("headers") or data.get("rate_limit_headers") or {}
    skip = {"content-length", "transfer-encoding", "connection", "content-encoding", "date", "server"}
    return {k: v[0] if isinstance(v, list) else v for k, v in headers.items() if k.lower() not in skip}


@dataclass
class Reply:
    status: int = 200
    body: Any = None                 # dict/list -> JSON; str/bytes as given
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0               # seconds to wait before answering (slow-source tests)

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode("utf-8"), "application/json; charset=utf-8"
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        return (self.body or "").encode("utf-8"), "text/plain; charset=utf-8"


@dataclass
class Seen:
    """One request as the server received it."""
    method: str
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: dict[str, str]          # lower-case names
    body: bytes
    at: float

    @property
    def params(self) -> dict[str, str]:
        """The query string as single values (the last one when repeated)."""
        return {k: v[-1] for k, v in self.query.items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Route:
    method: str
    path: str
    when: Callable[[Seen], bool] | None
    replies: list[Reply]
    served: int = 0

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class ReplayServer:
    def __init__(self):
        self.routes: list[_Route] = []
        self.requests: list[Seen] = []
        self.unmatched: list[Seen] = []
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # the remote side's log is not ours to keep
                return

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, parts.query, parse_qs(parts.query, keep_blank_values=True),
                            {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                reply = replay._answer(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                payload, content_type = reply.payload()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": content_type, **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, str(value))
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (deadline tests)
                    pass

            do_GET = _serve
            do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, method: str, path: str, *replies: Reply, when: Callable[[Seen], bool] | None = None) -> "ReplayServer":
        self.routes.append(_Route(method.upper(), path, when, list(replies) or [Reply(404, "no reply")]))
        return self

    def _answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            for route in self.routes:
                if route.method == seen.method and route.path == seen.path and (route.when is None or route.when(seen)):
                    return route.next_reply()
            self.unmatched.append(seen)
            return Reply(404, f"replay: no route for {seen.method} {seen.path}?{seen.raw_query}")

    def to(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


# ---- composing a service over keyed plugins --------------------------------------------------------

def keyed_service(store_path, plugins: list, deadline: float | None = None, with_local: bool = False):
    """A Service whose plugins are the given ones (plus the embedded store's when asked: it supplies
    the values an IP carries by itself, e.g. for proximity and reverse lookup)."""
    from dtf_catalog import default_catalog
    from plugins.local import LocalPlugin
    from store import Store
    from transforms.service import Service

    local = [LocalPlugin(Store(store_path), default_catalog())] if with_local else []
    return Service(store_path, plugins=local + list(plugins), deadline=deadline)


@contextmanager
def serving(service):
    """The Flask app over `service`, on a real socket."""
    from support import ServerThread
    from web.app import create_app

    with ServerThread(create_app(service)) as server:
        yield server


def transform_name(service, kind: str, pivot: str, input_type: str) -> str:
    """The registered transform of one kind (pivot/extract/expand) for a pivot and input type."""
    for spec in service.registry:
        if spec.kind == kind and spec.pivot == pivot and spec.input == input_type:
            return spec.name
    raise LookupError(f"no {kind} transform for {pivot} on {input_type}")
