"""Guarded HTTP(S) GETs for live plugins: the only way they reach the network over HTTP.

Every connection goes through `netguard`: the host is resolved once, the address checked, and
the socket connected to that very address while the Host header and TLS SNI keep the name, so
neither a redirect nor a DNS answer that changes between check and connect reaches a private
address. Redirects are followed here, one hop at a time (http/https only, capped); bodies are
read in chunks up to a size cap; retries are bounded and never outlive the caller's deadline.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (ConnectTimeoutError, HTTPError, MaxRetryError, NewConnectionError,
                                ReadTimeoutError)
from urllib3.util import Retry, Timeout

from .netguard import AddressRefused, Guard, truthy

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({502, 503, 504})
CHUNK = 65536
DEFAULT_USER_AGENT = "dtf-maltego/0.1 (+https://github.com/MalasadaTech/defenders-threatmesh-framework)"


class FetchError(Exception):
    """The fetch did not produce a response body; the message is fit for an analyst."""


class FetchRefused(FetchError):
    """Refused before or while fetching: guarded address, scheme, redirect cap or size cap."""


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float = 5.0          # per connect / per read, further bounded by the deadline
    max_bytes: int = 2_000_000    # decoded body size cap
    max_redirects: int = 5
    retries: int = 1              # extra attempts on connection errors and 502/503/504
    verify_tls: bool = True
    user_agent: str = DEFAULT_USER_AGENT
    ca_bundle: str | None = None  # a PEM file of trusted CAs instead of the system's (proxies, tests)

    @classmethod
    def from_settings(cls, settings: dict, **defaults) -> "FetchPolicy":
        """A policy from plugin settings (`timeout`, `max_bytes`, `max_redirects`, `retries`,
        `verify_tls`, `ca_bundle`, `user_agent`); `defaults` are the plugin's own defaults."""
        base = cls(**defaults)

        def given(name, cast):
            value = settings.get(name)
            if value in (None, ""):
                return getattr(base, name)
            try:
                return cast(value)
            except ValueError:
                raise ValueError(f"plugin setting {name}={value!r} is not a valid {cast.__name__}") from None

        return cls(timeout=given("timeout", float), max_bytes=given("max_bytes", int),
                   max_redirects=given("max_redirects", int), retries=given("retries", int),
                   verify_tls=given("verify_tls", truthy), user_agent=given("user_agent", str),
                   ca_bundle=given("ca_bundle", str))


@dataclass
class Fetched:
    url: str                       # the final URL, after redirects
    status: int
    headers: dict[str, str]        # lower-case names
    body: bytes
    redirects: list[str] = field(default_factory=list)   # URLs left by a redirect, in order

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class DeadlineRetry(Retry):
    """urllib3's Retry that gives up when the next attempt could not finish before the deadline."""

    MIN_ATTEMPT = 0.25

    def __init__(self, *args, deadline: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kw):
        kw.setdefault("deadline", self.deadline)
        return super().new(**kw)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left < retry.get_backoff_time() + self.MIN_ATTEMPT:
                raise MaxRetryError(_pool, url, error or _StatusGiveUp(response))
        return retry


class _StatusGiveUp(HTTPError):
    def __init__(self, response):
        super().__init__(f"HTTP {getattr(response, 'status', '?')} and no time left to retry")


def _guarded(connection_class, guard: Guard):
    """A urllib3 connection class whose socket goes only to addresses the guard accepted."""

    class GuardedConnection(connection_class):
        def _new_conn(self):
            timeout = self.timeout if isinstance(self.timeout, (int, float)) else socket.getdefaulttimeout()
            timeout = 10.0 if timeout is None else timeout
            try:
                targets = guard.resolve(self._dns_host, self.port, timeout)
            except socket.gaierror as exc:
                raise NewConnectionError(self, f"cannot resolve {self.host}: {exc}") from exc
            except socket.timeout as exc:
                raise ConnectTimeoutError(self, str(exc)) from exc
            last_error: OSError | None = None
            for family, address in targets:
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    for option in self.socket_options or ():
                        sock.setsockopt(*option)
                    sock.settimeout(timeout)
                    sock.connect(address)
                    return sock
                except socket.timeout as exc:
                    sock.close()
                    raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from exc
                except OSError as exc:
                    sock.close()
                    last_error = exc
            raise NewConnectionError(self, f"cannot connect to {self.host}: {last_error}")

    GuardedConnection.__name__ = f"Guarded{connection_class.__name__}"
    return GuardedConnection


class Fetcher:
    """GETs through a guard, with a policy; thread-safe, one per plugin instance."""

    def __init__(self, policy: FetchPolicy | None = None, guard: Guard | None = None):
        self.policy = policy or FetchPolicy()
        self.guard = guard or Guard()
        cert_reqs = "CERT_REQUIRED" if self.policy.verify_tls else "CERT_NONE"
        tls = {"ca_certs": self.policy.ca_bundle} if self.policy.verify_tls and self.policy.ca_bundle else {}
        self._manager = urllib3.PoolManager(num_pools=32, maxsize=4, cert_reqs=cert_reqs,
                                            retries=False, block=False, **tls)
        http_connection, https_connection = _guarded(HTTPConnection, self.guard), _guarded(HTTPSConnection, self.guard)
        self._manager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}),
        }
        if not self.policy.verify_tls:
            import warnings
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

    def get(self, url: str, deadline: float, headers: dict | None = None, max_bytes: int | None = None) -> Fetched:
        """GET `url`, following redirects; any HTTP status is returned, never raised.

        Raises FetchRefused (guard, scheme, redirect or size cap) or FetchError (network, timeout).
        """
        cap = max_bytes or self.policy.max_bytes
        redirects: list[str] = []
        current = check_scheme(url)
        while True:
            response = self._one(current, deadline, headers or {}, cap)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                response.redirects = redirects
                return response
            if len(redirects) >= self.policy.max_redirects:
                raise FetchRefused(f"more than {self.policy.max_redirects} redirects from {url}")
            redirects.append(current)
            current = check_scheme(urljoin(current, location.strip()))

    def _one(self, url: str, deadline: float, headers: dict, cap: int) -> Fetched:
        left = deadline - time.monotonic()
        if left <= 0.05:
            raise FetchError(f"no time left to fetch {url}")
        host = urlsplit(url).hostname or ""
        try:
            self.guard.check_literal(host)
        except AddressRefused as exc:
            raise FetchRefused(str(exc)) from None
        per_step = min(self.policy.timeout, left)
        retries = DeadlineRetry(total=self.policy.retries, connect=self.policy.retries, read=0,
                                status=self.policy.retries, redirect=False, other=0,
                                status_forcelist=RETRY_STATUSES, backoff_factor=0.3, backoff_max=2.0,
                                respect_retry_after_header=False, raise_on_status=False,
                                raise_on_redirect=False, deadline=deadline)
        request_headers = {"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate", **headers}
        try:
            raw = self._manager.urlopen("GET", url, headers=request_headers, retries=retries, redirect=False,
                                        timeout=Timeout(connect=per_step, read=per_step),
                                        preload_content=False, decode_content=True)
        except AddressRefused as exc:
            raise FetchRefused(str(exc)) from None
        except MaxRetryError as exc:
            raise FetchError(_describe(exc.reason or exc, url, per_step)) from None
        except (HTTPError, OSError) as exc:
            raise FetchError(_describe(exc, url, per_step)) from None
        try:
            body = _read_capped(raw, url, cap, deadline)
        finally:
            raw.release_conn()
        return Fetched(url, raw.status, {k.lower(): v for k, v in raw.headers.items()}, body)

    def close(self) -> None:
        self._manager.clear()


def _read_capped(raw, url: str, cap: int, deadline: float) -> bytes:
    declared = raw.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and raw.headers.get("content-encoding") in (None, "", "identity"):
        raw.close()
        raise FetchRefused(f"{url} announces {int(declared)} bytes, over the {cap}-byte cap; refused")
    chunks, size = [], 0
    try:
        while True:
            if time.monotonic() > deadline:
                raw.close()
                raise FetchError(f"{url} was still sending when the deadline passed")
            chunk = raw.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                raw.close()
                raise FetchRefused(f"{url} sent more than the {cap}-byte cap; refused")
            chunks.append(chunk)
    except ReadTimeoutError:
        raw.close()
        raise FetchError(f"{url} stopped sending (read timed out)") from None
    except (HTTPError, OSError) as exc:
        raw.close()
        raise FetchError(f"reading {url} failed: {type(exc).__name__}") from None
    return b"".join(chunks)


def _describe(exc: BaseException, url: str, timeout: float) -> str:
    host = urlsplit(url).hostname or url
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, socket.timeout, TimeoutError)):
        return f"{host} did not answer within {timeout:.1f} s"
    if isinstance(exc, _StatusGiveUp):
        return f"{host}: {exc}"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS with {host} failed"
    if isinstance(exc, NewConnectionError):
        text = str(exc)
        return text.split(": ", 1)[1] if ": " in text else f"cannot connect to {host}"
    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return f"cannot resolve {host}"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return f"{host} closed the connection"
    if isinstance(exc, urllib3.exceptions.LocationParseError):
        return f"{url!r} is not a valid URL"
    return f"fetching {url} failed ({type(exc).__name__})"


def check_scheme(url: str) -> str:
    """Only http and https are fetched (no file://, ftp://, gopher://...)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchRefused(f"{url!r}: only http and https URLs are fetched")
    if not parts.hostname:
        raise FetchRefused(f"{url!r} has no host")
    return url


# ---- JSON APIs (RDAP, crt.sh) ---------------------------------------------------------------------

class ApiError(Exception):
    """An API lookup failed in a way the analyst must hear about (the plugin turns it into PluginError)."""


def get_json(fetcher: Fetcher, url: str, deadline: float, service: str, headers: dict | None = None):
    """The parsed JSON answer of a GET, or None when the service says it has nothing (HTTP 404).

    Rate limits, server errors, timeouts and bodies that are not JSON raise ApiError naming them.
    """
    try:
        response = fetcher.get(url, deadline, headers={"Accept": "application/json", **(headers or {})})
    except FetchError as exc:
        raise ApiError(f"{service}: {exc}") from None
    if response.status == 404:
        return None
    if response.status == 429:
        after = response.headers.get("retry-after")
        raise ApiError(f"{service} is rate-limiting us (HTTP 429)" + (f", retry after {after} s" if after else ""))
    if response.status >= 500:
        raise ApiError(f"{service} had a server error (HTTP {response.status})")
    if response.status >= 400:
        raise ApiError(f"{service} refused the query (HTTP {response.status})")
    if response.status != 200:
        raise ApiError(f"{service} answered HTTP {response.status} without data")
    try:
        return json.loads(response.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(f"{service} answered with something that is not JSON "
                       f"({response.content_type or 'no content type'}, {len(response.body)} bytes)") from None


# ---- shared look-ups ---------------------------------------------------------------------------------

class OnceCache:
    """Runs a look-up once for all the callers asking at the same time, and remembers it briefly.

    The engine asks a plugin once per leaf pivot, in parallel; the leaves of one source (RDAP
    registrar, dates, name servers...) come from one answer, so they must share one fetch.
    A failure is shared by the waiting callers and remembered for a shorter time.
    """

    def __init__(self, ttl: float = 120.0, error_ttl: float = 10.0, size: int = 256):
        self.ttl, self.error_ttl, self.size = ttl, error_ttl, size
        self._lock = threading.Lock()
        self._items: dict = {}      # key -> (expiry, value, error)
        self._running: dict = {}    # key -> Event

    def get(self, key, compute, wait: float):
        while True:
            with self._lock:
                item = self._items.get(key)
                if item and item[0] > time.monotonic():
                    if item[2] is not None:
                        raise item[2]
                    return item[1]
                event = self._running.get(key)
                if event is None:
                    event = self._running[key] = threading.Event()
                    owner = True
                else:
                    owner = False
            if owner:
                return self._compute(key, compute, event)
            if not event.wait(max(wait, 0.0)):
                raise TimeoutError("the shared look-up did not finish in time")

    def _compute(self, key, compute, event):
        try:
            value = compute()
        except Exception as exc:
            self._store(key, (time.monotonic() + self.error_ttl, None, exc))
            raise
        else:
            self._store(key, (time.monotonic() + self.ttl, value, None))
            return value
        finally:
            with self._lock:
                self._running.pop(key, None)
            event.set()

    def _store(self, key, item) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                now = time.monotonic()
                stale = [k for k, v in self._items.items() if v[0] <= now] or list(self._items)[: self.size // 4]
                for k in stale:
                    self._items.pop(k, None)
            self._items[key] = item
