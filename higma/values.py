"""The value mini-language of hIGMA pivot items (see docs/higma.md).

A value is read against the value kind of its pivot (from the catalog):
  plain           `ads.php`, `200`, `AS399629`: normalised like the store does, so 200 = "200" and
                  AS399629 = 399629 where the pivot is numeric or an AS number;
  glob            `teams-*`, `*.ns.cloudflare.com`: `*` stands for any run of characters
                  (`\\*` is a literal star); case-insensitive;
  comparison      `>2025-09-01`, `<=500`: only for numbers, AS numbers and dates;
  range           `2025-01-01..2025-03-31`, `200..299`: both ends included, same kinds;
  regex           `/^adm[0-9]+$/`: Python syntax, searched in the value;
  network         `198.51.100.0/24`: for IP values;
  similar         an SSDEEP hash with `implementation: SSDEEP` also matches close relatives.
A leading backslash keeps a value literal: `\\/admin/` is the path /admin/, not a regex.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass, field

from store.normalize import InvalidValue, normalize

ORDERABLE_KINDS = ("int", "asn", "date")
SIMILARITY_MIN = 60          # ssdeep score (0-100) from which two fuzzy hashes count as the same resource
MAX_VALUE_LENGTH = 4096
MAX_REGEX_LENGTH = 512

_COMPARISON = re.compile(r"^(>=|<=|>|<)\s*(\S.*)$")
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?<!\\)[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")
_RANGE = re.compile(r"^(\S.*?)\s*\.\.\s*(\S.*)$")

_HASH_SHAPES = {
    "SHA256": re.compile(r"^[0-9a-f]{64}$"),
    "MD5": re.compile(r"^[0-9a-f]{32}$"),
    "SHA1": re.compile(r"^[0-9a-f]{40}$"),
    "MMH3": re.compile(r"^-?\d{1,10}$"),
    "SSDEEP": re.compile(r"^\d+:[A-Za-z0-9/+]+:[A-Za-z0-9/+]+$"),
    "TLSH": re.compile(r"^(T1)?[0-9A-F]{70}$"),
}


class BadValue(ValueError):
    """A value that does not fit its pivot or the mini-language; the message says why."""


@dataclass(frozen=True)
class ValueMatcher:
    """A parsed value: which form it takes and what it needs to match a stored (display, key)."""
    form: str                    # exact | glob | compare | range | regex | network | similar
    kind: str                    # the pivot's value kind
    text: str                    # as written in the rule (after YAML)
    key: str | None = None       # exact / similar: the normalised key
    display: str | None = None   # exact / similar: the normalised display form
    op: str | None = None        # compare: > >= < <=
    low: object = None           # compare operand, or range start
    high: object = None          # range end
    literal: str | None = None   # glob: the pattern with escapes resolved, `*` still meaning "any run"
    compiled: re.Pattern | None = field(default=None, compare=False, hash=False)

    @property
    def is_exact(self) -> bool:
        return self.form == "exact"

    def matches(self, display: str, key: str) -> bool:
        """Does a stored value (display text and normalised key) satisfy this matcher?"""
        if self.form == "exact":
            return key == self.key
        if self.form == "similar":
            return key == self.key or similarity(self.key, key) >= SIMILARITY_MIN
        if self.form in ("glob", "regex"):
            finder = self.compiled.fullmatch if self.form == "glob" else self.compiled.search
            return bool(finder(display) or finder(key))
        if self.form == "network":
            try:
                return ipaddress.ip_address(key) in self.low
            except ValueError:
                return False
        number = _ordered(self.kind, key)
        if number is None:
            return False
        if self.form == "range":
            return self.low <= number <= self.high
        return {">": number > self.low, ">=": number >= self.low,
                "<": number < self.low, "<=": number <= self.low}[self.op]

    def glob_parts(self) -> list[str]:
        """The literal runs of a glob between its wildcards (`teams-*` -> ["teams-", ""])."""
        return [part.replace(_STAR, "*") for part in (self.literal or "").split("*")]

    def describe(self) -> str:
        """Operator and operand as the local target prints them."""
        if self.form == "exact":
            return f"= {_show(self.kind, self.display) if self.kind in ('int', 'asn') else _quote(self.display)}"
        if self.form == "similar":
            return f"~ {_quote(self.display)} (SSDEEP similarity >= {SIMILARITY_MIN})"
        if self.form == "glob":
            return f"like {_quote(self.text)}"
        if self.form == "regex":
            return f"matches {self.text}"
        if self.form == "network":
            return f"in {self.low}"
        if self.form == "range":
            return f"in {_show(self.kind, self.low)}..{_show(self.kind, self.high)}"
        return f"{self.op} {_show(self.kind, self.low)}"


def value_text(raw) -> str:
    """The YAML value as text: numbers and dates as written, anything else refused."""
    if raw is None:
        raise BadValue("missing value")
    if isinstance(raw, bool):
        raise BadValue(f"{raw!r} is a yes/no, not a value (quote it if you mean the word)")
    if isinstance(raw, (dict, list, tuple, set)):
        raise BadValue("expected one value, got a list or mapping (write alternatives as separate groups "
                       "and combine them with `1 of`)")
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise BadValue(f"{raw!r} is not a usable number")
        return str(int(raw)) if raw.is_integer() else repr(raw)
    if isinstance(raw, (dt.datetime, dt.date)):
        return raw.isoformat()
    if isinstance(raw, (int, str)):
        text = str(raw)
        if not text.strip():
            raise BadValue("empty value")
        if len(text) > MAX_VALUE_LENGTH:
            raise BadValue(f"value longer than {MAX_VALUE_LENGTH} characters")
        return text
    raise BadValue(f"unsupported value type {type(raw).__name__}")


def parse_value(raw, kind: str, implementation: str | None = None) -> ValueMatcher:
    """Read one rule value against a pivot value kind; raises BadValue with the reason."""
    text = value_text(raw)
    if kind == "pattern":  # a name pattern is its own glob/regex/substring language (store semantics)
        return _exact(text, kind)
    plain = text.strip()
    escaped_prefix = plain[:1] == "\\" and plain[1:2] in ("/", "<", ">")
    if escaped_prefix:
        plain = plain[1:]
    else:
        if len(plain) >= 3 and plain.startswith("/") and plain.endswith("/"):
            return _regex(text, plain[1:-1], kind)
        if kind in ORDERABLE_KINDS:
            found = _COMPARISON.match(plain)
            if found:
                return ValueMatcher("compare", kind, text, op=found.group(1), low=_operand(kind, found.group(2)))
            found = _RANGE.match(plain)
            if found:
                low, high = _operand(kind, found.group(1)), _operand(kind, found.group(2))
                if low > high:
                    raise BadValue(f"range {text!r} runs backwards (start after end)")
                return ValueMatcher("range", kind, text, low=low, high=high)
        if kind == "ip" and "/" in plain:
            try:
                return ValueMatcher("network", kind, text, low=ipaddress.ip_network(plain, strict=False))
            except ValueError:
                raise BadValue(f"{text!r} is not an IP network such as 198.51.100.0/24") from None
    literal, wildcards = _unescape(plain)
    if wildcards:
        return _glob(text, literal, kind)
    matcher = _exact(literal, kind)
    if implementation == "SSDEEP":
        return ValueMatcher("similar", kind, text, key=matcher.key, display=matcher.display)
    return ValueMatcher("exact", kind, text, key=matcher.key, display=matcher.display)


def check_implementation(algorithm: str, matcher: ValueMatcher) -> None:
    """An exact hash must have the shape of its algorithm (64 hex digits for SHA256, ...)."""
    if matcher.form not in ("exact", "similar"):
        return
    shape = _HASH_SHAPES[algorithm]
    if not shape.match(matcher.key):
        raise BadValue(f"{matcher.text!r} does not look like a {algorithm} hash")


def guess_implementation(matcher: ValueMatcher) -> str | None:
    """The algorithm a hash value's shape points to, when it points to exactly one."""
    if matcher.form not in ("exact", "similar"):
        return None
    fits = [name for name, shape in _HASH_SHAPES.items() if shape.match(matcher.key)]
    return fits[0] if len(fits) == 1 else None


def similarity(left: str | None, right: str | None) -> int:
    """ssdeep score of two fuzzy hashes; 0 when either is not an ssdeep hash."""
    if not left or not right or not _HASH_SHAPES["SSDEEP"].match(left) or not _HASH_SHAPES["SSDEEP"].match(right):
        return 0
    import ppdeep

    try:
        return int(ppdeep.compare(left, right))
    except Exception:  # ppdeep rejects some malformed digests with assorted exception types
        return 0


def name_pattern_matches(pattern: str, name: str) -> bool:
    """A name pattern (the P0102.002 kind) against a domain: glob with * and ?, /regex/, or substring."""
    if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            return bool(re.search(pattern[1:-1], name))
        except re.error:
            return False
    if "*" in pattern or "?" in pattern:
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        return bool(re.fullmatch(regex, name))
    return pattern in name


def escape_literal(text: str) -> str:
    """A value written so that the mini-language reads it back as exactly this text."""
    escaped = text.replace("\\", "\\\\").replace("*", "\\*")
    if escaped[:1] in ("/", "<", ">"):
        escaped = "\\" + escaped
    return escaped


# ---- helpers -------------------------------------------------------------------------------------

def _exact(text: str, kind: str) -> ValueMatcher:
    try:
        display, key = normalize(kind, text)
    except InvalidValue as exc:
        raise BadValue(str(exc)) from None
    return ValueMatcher("exact", kind, text, key=key, display=display)


def _regex(text: str, source: str, kind: str) -> ValueMatcher:
    if len(source) > MAX_REGEX_LENGTH:
        raise BadValue(f"regular expression longer than {MAX_REGEX_LENGTH} characters")
    if _NESTED_REPEAT.search(source):  # (a+)+ and kin can take exponential time on a shared server
        raise BadValue(f"regular expression {text!r} repeats a group that itself repeats; rewrite it without "
                       "the nested repetition")
    try:
        compiled = re.compile(source, re.IGNORECASE if kind != "hash" else 0)
    except (re.error, RecursionError, OverflowError) as exc:
        raise BadValue(f"regular expression {text!r} does not compile: {exc}") from None
    return ValueMatcher("regex", kind, text, literal=source, compiled=compiled)


def _glob(text: str, literal: str, kind: str) -> ValueMatcher:
    if kind == "text":
        literal = re.sub(r"\s+", " ", literal)
    if not literal.replace("*", "").strip():
        raise BadValue(f"{text!r} is only wildcards: it would match every value")
    regex = ".*".join(re.escape(part.replace(_STAR, "*")) for part in literal.split("*"))
    return ValueMatcher("glob", kind, text, literal=literal, compiled=re.compile(regex, re.IGNORECASE | re.DOTALL))


def _unescape(text: str) -> tuple[str, bool]:
    """Resolve `\\*` and `\\\\`; report whether an unescaped `*` remains. Literal stars come back as
    a private-use character so that splitting on `*` keeps them."""
    out, wildcards, i = [], False, 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1:i + 2] in ("*", "\\"):
            out.append(_STAR if text[i + 1] == "*" else "\\")
            i += 2
            continue
        if char == "*":
            wildcards = True
        out.append(char)
        i += 1
    joined = "".join(out)
    if wildcards:
        return joined, True
    return joined.replace(_STAR, "*"), False


_STAR = "\uf8ff"


def _operand(kind: str, text: str):
    try:
        key = normalize(kind, text.strip())[1]
    except InvalidValue as exc:
        raise BadValue(f"comparison operand: {exc}") from None
    return _ordered(kind, key)


def _ordered(kind: str, key: str):
    """A key in a form that compares in value order: numbers as int, dates as ISO day text."""
    if kind in ("int", "asn"):
        try:
            return int(key)
        except (TypeError, ValueError):
            return None
    if kind == "date":
        return key[:10] if key and len(key) >= 10 else None
    return None


def _show(kind: str, value) -> str:
    return f"AS{value}" if kind == "asn" else str(value)


def _quote(text: str | None) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
