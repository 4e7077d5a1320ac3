"""Value normalisation per kind, so that the same characteristic always gets the same key.

Every value that enters the store or a query goes through `normalize(kind, raw)`. It returns
`(display, key)`: `display` is what an analyst sees (original case kept for titles), `key`
is what is compared and indexed. A value that is not what its kind says raises
`InvalidValue` with a reason an analyst can act on.
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from publicsuffixlist import PublicSuffixList

try:  # the parser re itself uses: lets a pattern's shape be checked before it runs
    from re import _parser as _sre_parse  # Python 3.11+
except ImportError:  # Python 3.10
    import sre_parse as _sre_parse

__all__ = [
    "InvalidValue", "normalize", "normalize_key", "KINDS", "SUBJECT_KINDS",
    "dns_name", "ip_address", "is_ip", "asn", "iso_date", "iso_timestamp", "email", "url", "url_host", "registrable_parts",
]


class InvalidValue(ValueError):
    """A value that does not fit its kind (e.g. a Domain that is not a DNS name)."""


SUBJECT_KINDS = ("domain", "ip", "url", "hash", "cert", "email")

_PSL = PublicSuffixList()
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_HEX = re.compile(r"^[0-9a-f]+$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = re.compile(r"^-?\d{9,13}(\.\d+)?$")
_MAX_TEXT = 4096


@lru_cache(maxsize=65536)
def dns_name(raw: str) -> str:
    """Lower-case, IDNA-encoded, no trailing dot; rejects what cannot be a host name."""
    name = str(raw).strip().rstrip(".").lower()
    if name.startswith("*."):
        name = name[2:]
    if not name or len(name) > 253:
        raise InvalidValue(f"{raw!r} is not a DNS name")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidValue(f"{raw!r} is not a valid internationalised DNS name ({exc})") from None
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidValue(f"{raw!r} is not a DNS name")
    if labels[-1].isdigit():
        raise InvalidValue(f"{raw!r} looks like an IP address, not a DNS name")
    return name


def ip_address(raw: str) -> str:
    """Canonical text form (compressed IPv6, no zone, no leading zeros)."""
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        text = text.split("%", 1)[0]  # an IPv6 zone names a local interface, not the address
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidValue(f"{raw!r} is not an IPv4 or IPv6 address") from None
    if address.version == 6 and address.ipv4_mapped:  # same text on every Python version (RFC 5952 s5)
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def is_ip(text: str) -> bool:
    """True when `text` (brackets allowed, as in URL hosts) is an IPv4 or IPv6 address."""
    text = str(text).strip().strip("[]")
    if ":" not in text and not text[-1:].isdigit():
        return False  # IPv4 ends in a digit and IPv6 has a colon: a name, without parsing
    try:
        ip_address(text)
        return True
    except InvalidValue:
        return False


def asn(raw) -> str:
    """AS numbers as plain digits, whether given as AS64501, as64501 or 64501."""
    text = str(raw).strip().upper()
    if text.startswith("AS"):
        text = text[2:].strip()
    if not text.isdigit() or int(text) > 4294967295:
        raise InvalidValue(f"{raw!r} is not an AS number")
    return str(int(text))


def iso_date(raw) -> str:
    """A calendar date as YYYY-MM-DD, from a date, an ISO timestamp or epoch milliseconds."""
    if _is_epoch(raw):
        return _epoch(raw).date().isoformat()
    text = str(raw).strip()
    if _DATE_ONLY.match(text):
        try:
            return _dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidValue(f"{raw!r} is not a date") from None
    for layout in ("%B %d, %Y", "%b %d, %Y", "%d %B %Y"):  # as written in reports: "March 24, 2025"
        try:
            return _dt.datetime.strptime(text, layout).date().isoformat()
        except ValueError:
            pass
    return iso_timestamp(text)[:10]


_MOMENTS: dict[str, str] = {}   # recent text -> ISO timestamp (imports repeat dates); bounded


def iso_timestamp(raw) -> str:
    """A moment as an ISO 8601 UTC string (seconds precision); a bare date means midnight UTC."""
    if type(raw) is not str:
        return _iso_timestamp(raw)
    known = _MOMENTS.get(raw)
    if known is None:
        known = _iso_timestamp(raw)
        if len(_MOMENTS) >= 4096:
            _MOMENTS.clear()
        _MOMENTS[raw] = known
    return known


def _iso_timestamp(raw) -> str:
    if _is_epoch(raw):
        return _epoch(raw).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = str(raw).strip()
    if _DATE_ONLY.match(text):
        return iso_date(text) + "T00:00:00Z"
    candidate = text.replace("Z", "+00:00").replace(" ", "T", 1)
    candidate = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", candidate)
    try:
        moment = _dt.datetime.fromisoformat(candidate)
    except ValueError:
        raise InvalidValue(f"{raw!r} is not an ISO date or timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_epoch(raw) -> bool:
    """Numbers, and digit strings too long to be a compact ISO date, count as Unix time."""
    if isinstance(raw, bool):
        return False
    return isinstance(raw, (int, float)) or bool(_EPOCH.match(str(raw).strip()))


def _epoch(raw) -> _dt.datetime:
    """Unix seconds, or milliseconds when the number is too big to be seconds."""
    try:
        number = float(raw) if not isinstance(raw, int) else raw
        seconds = number / 1000 if abs(number) > 10_000_000_000 else number
        return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise InvalidValue(f"{raw!r} is out of range for a Unix timestamp") from None


def email(raw: str) -> str:
    text = str(raw).strip().lower()
    if text.startswith("mailto:"):
        text = text[7:]
    if not _EMAIL.match(text):
        raise InvalidValue(f"{raw!r} is not an e-mail address")
    local, _, domain = text.partition("@")
    return f"{local}@{dns_name(domain)}"


def url(raw: str) -> str:
    """Scheme and host lower-cased, host IDNA-encoded, default port dropped; path kept as given."""
    text = str(raw).strip()
    try:
        parts = urlsplit(text)
        hostname, given_port = parts.hostname, parts.port
    except ValueError as exc:  # an unclosed [IPv6 bracket, a port out of range
        raise InvalidValue(f"{raw!r} is not a usable URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not hostname:
        raise InvalidValue(f"{raw!r} is not an http(s) URL")
    host = hostname
    try:
        host = ip_address(host)
        host = f"[{host}]" if ":" in host else host
    except InvalidValue:
        host = dns_name(host)
    port = given_port if given_port not in (None, 80 if scheme == "http" else 443) else None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def url_host(normalized_url: str) -> str:
    host = urlsplit(normalized_url).hostname or ""
    return host


def registrable_parts(name: str) -> tuple[str, str, list[str]]:
    """(public suffix, registrable label, subdomain labels) of a normalised DNS name, offline PSL."""
    suffix = _PSL.publicsuffix(name) or name.rsplit(".", 1)[-1]
    private = _PSL.privatesuffix(name) or name
    label = private[: -len(suffix) - 1] if private != suffix else private
    subdomains = name[: -len(private) - 1].split(".") if name != private else []
    return suffix, label, subdomains


def _text(raw) -> str:
    text = " ".join(str(raw).split())
    if not text:
        raise InvalidValue("empty value")
    if len(text) > _MAX_TEXT:
        raise InvalidValue(f"value longer than {_MAX_TEXT} characters")
    return text


def _hash(raw) -> str:
    text = str(raw).strip()
    if _HEX.match(text.lower()) and len(text) in (32, 40, 64, 128):
        return text.lower()
    if re.fullmatch(r"-?\d{1,11}", text):  # MurmurHash3 favicon hashes are signed 32-bit ints
        return str(int(text))
    if re.fullmatch(r"\d+:[A-Za-z0-9/+]+:[A-Za-z0-9/+]+", text):  # ssdeep keeps its case
        return text
    if re.fullmatch(r"(t1)?[0-9A-Fa-f]{70,72}", text):  # TLSH
        return text.upper() if not text.startswith("t1") else "T1" + text[2:].upper()
    raise InvalidValue(f"{raw!r} is not a recognised hash (hex digest, favicon mmh3, ssdeep or TLSH)")


def _int(raw) -> str:
    text = str(raw).strip()
    if not re.fullmatch(r"-?\d+", text):
        raise InvalidValue(f"{raw!r} is not a whole number")
    return str(int(text))


def _tld(raw) -> str:
    text = str(raw).strip().lstrip("*").lstrip(".").rstrip(".").lower()
    if not text:
        raise InvalidValue(f"{raw!r} is not a top-level domain")
    if not text.isascii():
        text = _idna(text, raw)
    if not all(_LABEL.match(label) for label in text.split(".")):
        raise InvalidValue(f"{raw!r} is not a top-level domain")
    return text


def _idna(text: str, raw) -> str:
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidValue(f"{raw!r} is not a valid internationalised name ({exc})") from None


def _label(raw) -> str:
    text = str(raw).strip().strip(".").lower()
    if not text.isascii():
        text = _idna(text, raw)
    if not _LABEL.match(text):
        raise InvalidValue(f"{raw!r} is not a DNS label")
    return text


def _pattern(raw) -> str:
    text = str(raw).strip()
    if not (text.startswith("/") and text.endswith("/") and len(text) > 2):
        text = text.lower()  # a regex keeps its case: lower-casing would turn \D into \d (matched ignoring case)
    if len(text) < 3:
        raise InvalidValue(f"pattern {raw!r} is too short (3 characters at least)")
    if len(text) > 253:
        raise InvalidValue("pattern longer than 253 characters")
    if text.startswith("/") and text.endswith("/") and len(text) > 2:
        try:
            re.compile(text[1:-1])
        except re.error as exc:
            raise InvalidValue(f"regular expression {raw!r} does not compile: {exc}") from None
        if _backtracks_badly(text[1:-1]):
            raise InvalidValue(f"regular expression {raw!r} repeats a group that itself repeats or branches, "
                               "which can take exponential time; use a glob or a flatter expression")
    return text


def _backtracks_badly(regex: str) -> bool:
    """True for shapes like (a+)+ or (a|aa)*: Python's re can take exponential time on them while
    holding the interpreter, which would stall every request of the server."""
    def walk(items, in_repeat: bool) -> bool:
        for op, argument in items:
            repeats = op in (_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT) and argument[1] > 1
            if in_repeat and (repeats or op == _sre_parse.BRANCH):
                return True
            if any(walk(child, in_repeat or repeats) for child in _subpatterns(argument)):
                return True
        return False
    return walk(_sre_parse.parse(regex), False)


def _subpatterns(argument):
    if isinstance(argument, _sre_parse.SubPattern):
        yield argument
    elif isinstance(argument, (tuple, list)):
        for item in argument:
            yield from _subpatterns(item)


def _country(raw) -> str:
    text = str(raw).strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", text):
        raise InvalidValue(f"{raw!r} is not a two-letter country code")
    return text


# kind -> (display function, key function)
_KINDS = {
    "domain": (dns_name, None),
    "dns": (dns_name, None),
    "ip": (ip_address, None),
    "asn": (asn, None),
    "int": (_int, None),
    "date": (iso_date, None),
    "email": (email, None),
    "text": (_text, str.casefold),
    "hash": (_hash, None),
    "url": (url, None),
    "cert": (_hash, None),
    "country": (_country, None),
    "tld": (_tld, None),
    "label": (_label, None),
    "pattern": (_pattern, None),
}
KINDS = tuple(_KINDS)


# Recent (kind, text) -> (display, key) answers: imports repeat subjects and values on line after
# line. Bounded (cleared when full) so memory stays flat; failures are never remembered.
_MEMO: dict[tuple[str, str], tuple[str, str]] = {}
_MEMO_SIZE = 16384


def normalize(kind: str, raw) -> tuple[str, str]:
    """(display, key) for `raw` read as `kind`; raises InvalidValue with the reason."""
    if type(raw) is str:
        known = _MEMO.get((kind, raw))
        if known is not None:
            return known
    try:
        display_fn, key_fn = _KINDS[kind]
    except KeyError:
        raise InvalidValue(f"unknown value kind {kind!r}") from None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InvalidValue("empty value")
    if isinstance(raw, bool) or isinstance(raw, (dict, list)):
        raise InvalidValue(f"{raw!r} is not a {kind} value")
    display = display_fn(raw)
    answer = display, (key_fn(display) if key_fn else display)
    if type(raw) is str:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[(kind, raw)] = answer
    return answer


def normalize_key(kind: str, raw) -> str:
    return normalize(kind, raw)[1]
