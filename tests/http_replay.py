"""A real HTTP server on 127.0.0.1 replaying recorded (or test-made) responses.

Each route answers a path (optionally only with given query parameters) with a status, headers,
a body and an optional delay, so tests exercise the live plugins' real network code against
recorded registry answers and against the failure modes (404, 429, 500, slow, not JSON) without
leaving the machine. Every request received is kept for assertions.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0                  # seconds to wait before answering
    query: dict[str, str] | None = None  # required query parameters (subset match)
    chunked: bool = False               # no Content-Length: the body streams in chunks
    times: int | None = None            # answer this many requests, then let the next route answer


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def json_route(data, status: int = 200, **kwargs) -> Route:
    return Route(status, json.dumps(data).encode(), {"Content-Type": "application/json", **kwargs.pop("headers", {})},
                 **kwargs)


def fixture_route(path: Path, replace: dict[str, str] | None = None, content_type: str = "application/json",
                  **kwargs) -> Route:
    """A recorded body from a file, with optional text substitutions (e.g. a registrar's host -> ours)."""
    text = Path(path).read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return Route(body=text.encode("utf-8"), headers={"Content-Type": content_type}, **kwargs)


class _QuietServer(ThreadingHTTPServer):
    """Connections the client drops or that do not speak HTTP (a TLS hello on a plain port) are
    part of what tests provoke; they are counted, not printed."""

    errors = 0

    def handle_error(self, request, client_address):
        self.errors += 1


class ReplayServer:
    """`with ReplayServer() as server: server.add("/path", Route(...)); server.url + "/path"`.

    With an `ssl.SSLContext` as `tls_context` it serves HTTPS.
    """

    def __init__(self, host: str = "127.0.0.1", tls_context=None):
        self.routes: dict[str, list[Route]] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.httpd = _QuietServer((host, 0), self._handler())
        self.httpd.daemon_threads = True
        if tls_context is not None:  # HTTPS: the handshake happens as each connection is accepted
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if tls_context else 'http'}://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def add(self, path: str, route: Route) -> "ReplayServer":
        self.routes.setdefault(path, []).insert(0, route)
        return self

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _find(self, path: str, query: dict[str, str]) -> Route | None:
        with self._lock:
            for route in self.routes.get(path, []):
                if route.times is not None and route.times <= 0:
                    continue
                if route.query is None or all(query.get(k) == v for k, v in route.query.items()):
                    if route.times is not None:
                        route.times -= 1
                    return route
        return None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                return

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                with server._lock:
                    server.received.append(Received("GET", parts.path, query, dict(self.headers.items())))
                route = server._find(parts.path, query) or Route(404, b"not found", {"Content-Type": "text/plain"})
                if route.delay:
                    time.sleep(route.delay)
                try:
                    self._answer(route)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (size cap, timeout)
                    self.close_connection = True

            def _answer(self, route: Route):
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(route.body), 16384):
                        piece = route.body[start:start + 16384]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body)

        return Handler
