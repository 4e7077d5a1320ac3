"""HTTP for the keyed intelligence APIs (urlscan.io, Shodan, SecurityTrails): one policy for all.

What every keyed call gets from here:
- a requests session whose urllib3 retries cover 5xx answers and connection failures only, with
  exponential backoff, and never past the request's deadline (`DeadlineRetry`);
- time limits derived from the deadline, so a slow source ends as a clear message, not a hang;
- pacing per service and key (`rate_per_second`), shared by the threads of this process;
- a pause after a rate-limit answer that lasts what the service asked for (`Retry-After`, urlscan's
  `X-Rate-Limit-Reset-After`), honoured across requests: while it lasts the source is not asked at all;
- one translation of HTTP outcomes into plugin errors: 401/403 name the key setting, 429 and quota
  answers stop the plugin for the request (`PluginStopped`), malformed JSON is reported as such;
- keys kept out of every message (`keys.redact`) and out of urllib3's debug log (`keys` filter).

Multi-worker caveat (DESIGN section 2): pauses and pacing live in this process's memory. Each
gunicorn worker paces itself, so N workers may together send N times the configured rate, and a
worker that has not yet seen a 429 sends one more request, gets its own 429 and pauses too. The
services enforce their limits anyway; this keeps every worker polite without shared state.
"""
from __future__ import annotations

import email.utils
import gzip
import json
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (MaxRetryError, NameResolutionError, NewConnectionError, ReadTimeoutError,
                                ResponseError)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from store.importer import RecordError

from . import keys, query
from .base import EXPAND, EXTRACT, Context, Expansion, PluginError, PluginSkipped, PluginStopped

RETRY_STATUSES = frozenset({500, 502, 503, 504})
DEADLINE_MARGIN = 0.4       # seconds kept free so the engine receives the answer before its own deadline
MIN_ATTEMPT = 0.3           # an attempt with less time than this is not started
CONNECT_TIMEOUT = 5.0
DEFAULT_RATE_LIMIT_PAUSE = 30.0   # a 429 that names no wait still pauses the source this long
MAX_PAUSE = 24 * 3600.0
QUOTA_WORDS = ("quota", "credits", "usage limit", "exceeded", "rate limit")
USER_AGENT = "dtf-maltego (+https://github.com/MalasadaTech/defenders-threatmesh-framework)"


class DeadlineRetry(Retry):
    """urllib3 retries that give up when the backoff (or the server's Retry-After) would outlast
    the deadline, and that never retry 429: a rate-limit answer stops the plugin instead."""

    def __init__(self, *args, deadline: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kw):
        fresh = super().new(**kw)
        fresh.deadline = self.deadline
        return fresh

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return status_code in self.status_forcelist and super().is_retry(method, status_code, has_retry_after)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        fresh = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = fresh.get_backoff_time()
        if response is not None and fresh.respect_retry_after_header:
            try:
                wait = max(wait, fresh.get_retry_after(response) or 0.0)
            except Exception:  # an unreadable Retry-After falls back to the backoff
                pass
        if self.deadline is not None and time.monotonic() + wait + MIN_ATTEMPT > self.deadline:
            raise MaxRetryError(_pool, url, ResponseError("no time left before the deadline for another attempt"))
        return fresh


def make_session(deadline: float, retries: int = 2, backoff: float = 0.25) -> requests.Session:
    """A session for one plugin call: retries bounded by `deadline` (a time.monotonic() value)."""
    retry = DeadlineRetry(total=retries, connect=retries, read=False, status=retries, other=0, redirect=0,
                          allowed_methods=frozenset({"GET", "POST"}), status_forcelist=RETRY_STATUSES,
                          backoff_factor=backoff, respect_retry_after_header=True, raise_on_status=False,
                          deadline=deadline)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    return session


# ---- per-process state shared by all calls: pacing and pauses --------------------------------------

class Pacer:
    """Spaces requests of one scope (service + base URL + key) at least 1/rate seconds apart."""

    def __init__(self):
        self._next: dict[str, float] = {}
        self._learned: dict[str, float] = {}   # per-second limits a service announced in its headers
        self._lock = threading.Lock()

    def learn(self, scope: str, rate: float) -> None:
        with self._lock:
            self._learned[scope] = rate

    def reserve(self, scope: str, rate: float, latest: float) -> float | None:
        """Seconds to wait before sending, or None when the slot would come after `latest`."""
        with self._lock:
            rate = min(rate, self._learned.get(scope, rate))
            interval = 1.0 / rate if rate > 0 else 0.0
            now = time.monotonic()
            slot = max(now, self._next.get(scope, 0.0))
            if slot > latest:
                return None
            self._next[scope] = slot + interval
            return slot - now

    def hold(self, scope: str, seconds: float) -> None:
        """Push the next slot at least `seconds` into the future (a short window the service says is spent)."""
        with self._lock:
            self._next[scope] = max(self._next.get(scope, 0.0), time.monotonic() + seconds)


class Pauses:
    """Scopes a service asked us to leave alone for a while (Retry-After and friends)."""

    def __init__(self):
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def pause(self, scope: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + min(max(seconds, 0.0), MAX_PAUSE)
            self._until[scope] = max(until, self._until.get(scope, 0.0))

    def remaining(self, scope: str) -> float:
        with self._lock:
            left = self._until.get(scope, 0.0) - time.monotonic()
            if left <= 0:
                self._until.pop(scope, None)
                return 0.0
            return left


PACER = Pacer()
PAUSES = Pauses()


# ---- one plugin call's client --------------------------------------------------------------------

class ApiClient:
    """Requests to one service with one key, for one plugin call (one deadline)."""

    def __init__(self, service: str, base_url: str, key: str, deadline: float, rate: float,
                 auth_header: str | None = None, auth_param: str | None = None, retries: int = 2,
                 backoff: float = 0.25):
        self.service = service
        self.display = keys.SERVICES[service]
        self.base_url = base_url.rstrip("/")
        self.deadline = deadline - DEADLINE_MARGIN
        self.rate = rate
        self.scope = f"{service}|{self.base_url}|{keys.fingerprint(key)}"
        self._auth_headers = {auth_header: key} if auth_header else {}
        self._auth_params = {auth_param: key} if auth_param else {}
        self.session = make_session(self.deadline, retries, backoff)

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get(self, path: str, params: dict | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, params: dict | None = None, body: Any = None) -> Any:
        return self.request("POST", path, params=params, body=body)

    def request(self, method: str, path: str, params: dict | None = None, body: Any = None) -> Any:
        """The decoded JSON answer; None for 404 (nothing known). Raises PluginError/PluginStopped."""
        paused = PAUSES.remaining(self.scope)
        if paused > 0:
            if paused + MIN_ATTEMPT >= self.deadline - time.monotonic():
                raise PluginStopped(f"{self.display} asked to wait; paused for another {paused:.0f} s "
                                    "after its rate-limit answer")
            time.sleep(paused)  # the pause ends before the deadline: wait it out
        wait = PACER.reserve(self.scope, self.rate, self.deadline - MIN_ATTEMPT)
        if wait is None:
            raise PluginStopped(f"the {self.display} rate limit ({self.rate:g}/s) leaves no slot before the deadline")
        if wait > 0:
            time.sleep(wait)
        left = self.deadline - time.monotonic()
        if left < MIN_ATTEMPT:
            raise PluginStopped(f"no time left before the deadline to ask {self.display}")
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = self.session.request(
                method, url, params={**(params or {}), **self._auth_params},
                json=body, headers=self._auth_headers, timeout=(min(CONNECT_TIMEOUT, left), left))
            content = response.content
        except requests.Timeout:
            raise PluginStopped(f"{self.display} gave no answer within the deadline") from None
        except requests.ConnectionError as exc:
            if _is_timeout(exc):
                raise PluginStopped(f"{self.display} gave no answer within the deadline") from None
            raise PluginError(f"cannot reach {self.display} ({_reason(exc)})") from None
        except requests.RequestException as exc:
            raise PluginError(f"request to {self.display} failed ({type(exc).__name__})") from None
        self._observe_limits(response)
        return self._decode(response, content)

    # ---- outcomes ----------------------------------------------------------------------------------

    def _decode(self, response: requests.Response, content: bytes) -> Any:
        status = response.status_code
        if status in (401, 403):
            raise PluginError(keys.rejected(self.service, status))
        if status == 429:
            seconds = _wait_seconds(response.headers)
            pause = DEFAULT_RATE_LIMIT_PAUSE if seconds is None else seconds
            PAUSES.pause(self.scope, pause)
            raise PluginStopped(f"{self.display} rate limit or quota reached (HTTP 429); "
                                f"not asked again for {pause:.0f} s")
        if status == 404:
            return None
        detail = _error_text(content)
        if status == 402 or (400 <= status < 500 and any(w in detail.lower() for w in QUOTA_WORDS)):
            seconds = _wait_seconds(response.headers)
            if seconds is not None:
                PAUSES.pause(self.scope, seconds)
            raise PluginStopped(f"{self.display} quota reached (HTTP {status})"
                                + (f": {keys.redact(detail)}" if detail else ""))
        if status >= 500:
            retries = getattr(getattr(response.raw, "retries", None), "history", None) or ()
            attempts = f" after {len(retries) + 1} attempts" if retries else ""
            raise PluginError(f"{self.display} answered HTTP {status} (server error){attempts}")
        if status >= 400:
            raise PluginError(f"{self.display} refused the request (HTTP {status})"
                              + (f": {keys.redact(detail)}" if detail else ""))
        if status >= 300:
            raise PluginError(f"{self.display} answered with an unexpected redirect (HTTP {status})")
        try:
            return response.json() if content.strip() else None
        except ValueError:
            raise PluginError(f"{self.display} answered with malformed JSON (HTTP {status}, "
                              f"{len(content)} bytes)") from None

    def _observe_limits(self, response: requests.Response) -> None:
        """Read the services' rate-limit headers: an exhausted window pauses the source until it resets."""
        headers = response.headers
        remaining = headers.get("X-Rate-Limit-Remaining")
        if remaining is not None and remaining.strip() == "0" and response.status_code != 429:
            reset = _number(headers.get("X-Rate-Limit-Reset-After"))
            if reset is not None:
                PAUSES.pause(self.scope, reset)
        per_second = _number(headers.get("X-Ratelimit-Limit-Second"))
        if per_second and per_second > 0 and per_second < self.rate:
            self.rate = per_second
            PACER.learn(self.scope, per_second)
            PACER.hold(self.scope, 1.0 / per_second)   # the slot already reserved used the faster pace
        if (headers.get("X-Ratelimit-Remaining-Second") or "").strip() == "0":
            PACER.hold(self.scope, 1.0)   # this second's allowance is spent: the next request waits for the next


def _wait_seconds(headers) -> float | None:
    """How long the service asked us to wait: Retry-After (seconds or HTTP date) or urlscan's header."""
    raw = headers.get("Retry-After")
    if raw:
        number = _number(raw)
        if number is not None:
            return max(number, 0.0)
        try:
            moment = email.utils.parsedate_to_datetime(raw)
            return max(moment.timestamp() - time.time(), 0.0)
        except (TypeError, ValueError, IndexError):
            pass
    return _number(headers.get("X-Rate-Limit-Reset-After"))


def _number(raw) -> float | None:
    try:
        return float(str(raw).strip()) if raw is not None and str(raw).strip() else None
    except ValueError:
        return None


def _error_text(content: bytes, limit: int = 200) -> str:
    """A short human-readable reason from an error body: JSON `error`/`message`/`description`, or text."""
    text = content.decode("utf-8", "replace").strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            for field in ("error", "message", "description", "detail"):
                if isinstance(data.get(field), str) and data[field].strip():
                    text = data[field].strip()
                    break
    except ValueError:
        pass
    text = " ".join(text.split())
    if text.lower().startswith("<"):  # an HTML error page says nothing useful to an analyst
        return ""
    return text[:limit]


def _is_timeout(exc: Exception) -> bool:
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # urllib3 files a refused connection (NewConnectionError) under its timeout errors: not a timeout here
    return isinstance(reason, (ReadTimeoutError, Urllib3Timeout)) and not isinstance(reason, NewConnectionError)


def _reason(exc: Exception) -> str:
    """A short cause without the URL (which may carry a key)."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    if isinstance(reason, NameResolutionError):
        return "host name not resolved"
    if isinstance(reason, NewConnectionError) and "refused" in str(reason).lower():
        return "connection refused"
    return type(reason).__name__ if reason is not None else type(exc).__name__


# ---- the common shape of the keyed plugins ------------------------------------------------------

class KeyedPlugin:
    """Settings, key lookup and client construction shared by urlscan, Shodan and SecurityTrails.

    Plugin settings (dtf.yaml `plugins.<name>` or DTF_<NAME>_<SETTING>): `api_key`, `base_url`
    (tests point it at a loopback replay server), `rate_per_second`, `page_size`, `max_pages`, `retries`.
    """
    service = ""
    live = True
    default_base_url = ""
    default_rate = 1.0
    default_page_size = 100
    max_page_size = 100
    default_max_pages = 2
    auth_header: str | None = None
    auth_param: str | None = None
    extract_pivots: tuple[str, ...] = ()   # what one indicator lookup can tell; searches come from plugins.query

    def __init__(self, catalog, settings: dict | None = None):
        self.catalog = catalog
        self.settings = dict(settings or {})
        self.name = self.service
        self.base_url = str(self.settings.get("base_url") or self.default_base_url).rstrip("/")
        self.rate = _positive(self.settings.get("rate_per_second"), self.default_rate, float)
        self.page_size = min(_positive(self.settings.get("page_size"), self.default_page_size, int), self.max_page_size)
        self.max_pages = _positive(self.settings.get("max_pages"), self.default_max_pages, int)
        self.retries = _count(self.settings.get("retries"), 2)
        self.memo = Memo()

    def capabilities(self) -> dict[str, set[str]]:
        caps: dict[str, set[str]] = {}
        for pivot_id in query.supported_pivots(self.service):
            if pivot_id in self.catalog.pivots and self.catalog.pivot(pivot_id).value:
                caps.setdefault(pivot_id, set()).add(EXPAND)
        for pivot_id in self.extract_pivots:
            caps.setdefault(pivot_id, set()).add(EXTRACT)
        return caps

    def to_query(self, group) -> dict:
        """An AND group of (pivot, value) pairs as this service's query (see plugins.query)."""
        return query.convert(self.service, group)

    def require_key(self, ctx: Context) -> str:
        """The request's key; without one the plugin is skipped (one Inform saying how to add it)."""
        key = keys.resolve(self.service, ctx.settings, self.settings)
        if not key:
            raise PluginSkipped(keys.how_to_add(self.service))
        return key

    def client(self, ctx: Context) -> ApiClient:
        key = self.require_key(ctx)
        return ApiClient(self.service, self.base_url, key, ctx.deadline, self.rate, self.auth_header,
                         self.auth_param, retries=self.retries)


def whole_number(raw) -> int | None:
    """An API's count field, whether it arrives as a number or as a string of digits."""
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None


def _count(raw, default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"plugin setting {raw!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"plugin setting {raw!r} must not be negative")
    return value


def _positive(raw, default, kind):
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"plugin setting {raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"plugin setting {raw!r} must be positive")
    return value


class Memo:
    """Answers of recent lookups (e.g. the latest scan of a host), kept a few minutes.

    The engine asks a plugin once per pivot leaf, in parallel; all leaves of one subject need the same
    lookup, so concurrent callers wait for the first one and share its answer (or its error). Only
    answers are kept afterwards; an error is retried by the next request.
    """

    def __init__(self, ttl: float = 120.0, size: int = 512):
        self.ttl, self.size = ttl, size
        self._items: dict = {}
        self._running: dict = {}
        self._lock = threading.Lock()

    def get(self, key, compute):
        with self._lock:
            item = self._items.get(key)
            if item and item[0] > time.monotonic():
                return item[1]
            waiter = self._running.get(key)
            if waiter is None:
                waiter = self._running[key] = _Flight()
                owner = True
            else:
                owner = False
        if not owner:
            return waiter.wait()
        try:
            value = compute()
        except BaseException as exc:
            waiter.fail(exc)
            raise
        finally:
            with self._lock:
                self._running.pop(key, None)
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (time.monotonic() + self.ttl, value)
        waiter.done(value)
        return value


class _Flight:
    def __init__(self):
        self._event = threading.Event()
        self._value = None
        self._error: BaseException | None = None

    def done(self, value) -> None:
        self._value = value
        self._event.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._event.set()

    def wait(self):
        self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value


class Gather:
    """Hits of one expansion: wanted kinds only, one per subject, at most `limit`. `total` is the
    source's own count of matching records (scans, banners, domains) and `fetched` how many were
    read: fewer read than held means the answer is truncated, which the engine reports as
    "showing N of M (source: x)" (N = results returned)."""

    def __init__(self, limit: int, wanted: frozenset[str]):
        self.limit = max(int(limit), 0)
        self.wanted = wanted
        self.hits: dict = {}
        self.fetched = 0
        self.total: int | None = None
        self.exhausted = False     # the source said there is nothing more

    @property
    def full(self) -> bool:
        return len(self.hits) >= self.limit

    def add(self, hit) -> None:
        if hit.subject.kind in self.wanted and hit.subject not in self.hits and not self.full:
            self.hits[hit.subject] = hit

    def expansion(self) -> Expansion:
        more = (self.total is not None and self.fetched < self.total) or (self.total is None and not self.exhausted)
        return Expansion(list(self.hits.values()), total=self.total, truncated=more)

    def stopped(self, exc: PluginError) -> PluginError:
        """The error to raise when the source failed part-way: with the hits so far when there are some."""
        if self.hits and not isinstance(exc, PluginSkipped):
            return PluginStopped(str(exc), partial=self.expansion())
        return exc


# ---- saved answers of these APIs (analysts' exports), for the importers ---------------------------

def json_documents(path, progress=None):
    """(location, document) pairs from a file holding one JSON document, a JSON array of them, or JSON
    lines (optionally gzip-compressed, as `shodan download` writes); a bad line yields (location, error)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if progress:
        progress(Path(path).stat().st_size)   # the bar counts bytes on disk (compressed ones for .gz)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield f"{path}:{number}", RecordError(f"not JSON ({exc})")
        return
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield f"{path}[{index}]", item
    else:
        yield str(path), data
