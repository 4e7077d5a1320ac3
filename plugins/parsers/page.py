"""An HTML page -> the features HTTP pivots compare: title, inline-script markers, resources.

Built on the standard library's tolerant HTML parser, which copes with the broken markup
phishing kits serve. Network fetching and hashing live in the http plugin; this only reads.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
MAX_INLINE_SCRIPT = 512_000
MAX_TEXT = 512_000
MAX_META_KEYWORDS = 20
RESOURCE_TAGS = {"script": "src", "img": "src", "iframe": "src", "link": "href", "embed": "src", "source": "src"}
LINK_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "modulepreload", "manifest"}


@dataclass
class Resource:
    tag: str        # script, link, img, iframe...
    url: str        # absolute
    rel: str = ""


@dataclass
class Page:
    url: str
    title: str | None = None
    inline_scripts: list[str] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    favicon: str | None = None          # the icon the page declares, absolute URL
    text: str = ""                      # visible text, whitespace collapsed
    meta_keywords: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Marker:
    """A thing to look for in inline scripts: a literal name or a regular expression.

    A regex with a capture group reports the captured text (e.g. the function name it found);
    otherwise the marker's label (or the matched text when it has no label) is reported.
    """
    pattern: re.Pattern
    label: str | None = None

    def find(self, text: str, limit: int) -> list[str]:
        found = []
        for match in self.pattern.finditer(text):
            value = match.group(1) if self.pattern.groups else (self.label or match.group(0))
            if value and value not in found:
                found.append(value)
            if len(found) >= limit:
                break
        return found


# Code an operator tends to reuse across sites: analytics/tag IDs and the names of functions
# defined inline (the example the DTF page gives for embedded code).
DEFAULT_MARKERS = (
    r"\b(UA-\d{4,10}-\d{1,4})\b",
    r"\b(G-[A-Z0-9]{8,12})\b",
    r"\b(GTM-[A-Z0-9]{4,9})\b",
    r"\bfunction\s+([A-Za-z_$][\w$]{5,63})\s*\(",
)
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$.]*$")


def parse_markers(setting) -> list[Marker]:
    """Markers from a setting: a list, or a string of entries separated by newlines or commas.

    An entry is `label=regex`, a plain identifier (found as a whole word, reported as itself),
    or a regex. A regex containing a comma must come as a list (YAML) or one per line.
    """
    if setting in (None, ""):
        entries = list(DEFAULT_MARKERS)
    elif isinstance(setting, (list, tuple)):
        entries = [str(e) for e in setting]
    else:
        text = str(setting)
        entries = text.splitlines() if "\n" in text else text.split(",")
    markers = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        label = None
        if "=" in entry and _IDENTIFIER.match(entry.split("=", 1)[0].strip()):
            label, entry = (part.strip() for part in entry.split("=", 1))
        if _IDENTIFIER.match(entry):
            markers.append(Marker(re.compile(rf"(?<![\w$]){re.escape(entry)}(?![\w$])"), label or entry))
            continue
        try:
            markers.append(Marker(re.compile(entry), label))
        except re.error as exc:
            raise ValueError(f"code marker {entry!r} is not a valid regular expression: {exc}") from None
    return markers


def find_markers(page: Page, markers: list[Marker], limit: int = 50) -> list[str]:
    found: list[str] = []
    for script in page.inline_scripts:
        for marker in markers:
            for value in marker.find(script, limit):
                if value not in found:
                    found.append(value)
                if len(found) >= limit:
                    return found
    return found


# Lure wording seen in fake-CAPTCHA / fake-update campaigns (DTF's keyword example is one of them).
DEFAULT_KEYWORDS = (
    "verify you are human", "i'm not a robot", "press win+r", "windows + r", "ctrl+v", "ctrl + v",
    "verification steps", "update your browser", "your browser is out of date", "fix it",
    "copy and paste", "enable content", "enable editing", "your account has been suspended",
)


def parse_keywords(setting) -> list[str]:
    """Phrases from a setting: a list, or a string of phrases separated by commas or newlines."""
    if setting in (None, ""):
        return list(DEFAULT_KEYWORDS)
    entries = setting if isinstance(setting, (list, tuple)) else str(setting).replace("\n", ",").split(",")
    return [p for p in dict.fromkeys(_SPACE.sub(" ", str(e)).strip().lower() for e in entries) if p]


def find_keywords(page: Page, phrases: list[str], limit: int = 50) -> list[str]:
    """Configured phrases present in the visible text or inline scripts (case and spacing ignored),
    then the page's own <meta name="keywords">."""
    haystack = " ".join([page.text, *page.inline_scripts]).lower()
    haystack = _SPACE.sub(" ", haystack)
    found = [phrase for phrase in phrases if phrase in haystack]
    found += [k for k in page.meta_keywords if k not in found]
    return found[:limit]


def decode(body: bytes, content_type_header: str = "") -> str:
    """Text of a body: charset from the header, else a <meta charset>, else UTF-8 (lenient)."""
    charset = None
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type_header or "", re.IGNORECASE)
    if match:
        charset = match.group(1)
    else:
        meta = _CHARSET.search(body[:4096])
        if meta:
            charset = meta.group(1).decode("ascii", "replace")
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return body.decode(candidate, errors="replace")
        except LookupError:
            continue
    return body.decode("utf-8", errors="replace")


def parse_page(text: str, url: str) -> Page:
    parser = _PageParser(url)
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on some hostile markup; keep what it read
        pass
    page = parser.page
    page.text = _SPACE.sub(" ", " ".join(parser.text_parts)).strip()[:MAX_TEXT]
    if page.title is not None:
        page.title = _SPACE.sub(" ", html.unescape(page.title)).strip() or None
    return page


def is_external(resource_url: str, page_url: str) -> bool:
    return (urlsplit(resource_url).hostname or "") != (urlsplit(page_url).hostname or "")


def resource_name(url: str) -> str | None:
    """The last path segment of a URL (`/static/js/app.min.js?v=3` -> `app.min.js`)."""
    path = urlsplit(url).path
    name = unquote(path.rsplit("/", 1)[-1]).strip()
    return name or None


class _PageParser(HTMLParser):
    def __init__(self, url: str):
        super().__init__(convert_charrefs=True)
        self.page = Page(url)
        self._base = url
        self._in_title = False
        self._title_parts: list[str] = []
        self._script: list[str] | None = None
        self._skip_text = 0                 # inside <style>, <script>, <noscript>... no visible text
        self.text_parts: list[str] = []
        self._text_size = 0

    def handle_starttag(self, tag, attrs):
        attributes = {name.lower(): (value or "") for name, value in attrs}
        if tag == "base" and attributes.get("href") and self._base == self.page.url:
            self._base = urljoin(self.page.url, attributes["href"].strip())
        elif tag == "title" and self.page.title is None:
            self._in_title = True
        elif tag == "script" and not attributes.get("src"):
            self._script = []
        elif tag == "meta" and attributes.get("name", "").lower() == "keywords":
            for keyword in attributes.get("content", "").split(","):
                keyword = _SPACE.sub(" ", keyword).strip().lower()
                if keyword and keyword not in self.page.meta_keywords and len(self.page.meta_keywords) < MAX_META_KEYWORDS:
                    self.page.meta_keywords.append(keyword)
        if tag in ("script", "style", "template"):
            self._skip_text += 1
        if tag in RESOURCE_TAGS:
            self._resource(tag, attributes)

    def _resource(self, tag: str, attributes: dict) -> None:
        reference = attributes.get(RESOURCE_TAGS[tag], "").strip()
        rel = " ".join(attributes.get("rel", "").lower().split())
        if not reference or reference.startswith(("data:", "javascript:", "about:", "#", "blob:", "mailto:")):
            return
        if tag == "link" and not (set(rel.split()) & LINK_RELS):
            return
        absolute = urljoin(self._base, reference)
        if urlsplit(absolute).scheme not in ("http", "https"):
            return
        self.page.resources.append(Resource(tag, absolute, rel))
        if tag == "link" and "icon" in rel.split() and self.page.favicon is None:
            self.page.favicon = absolute

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip_text:
            self._skip_text -= 1
        if tag == "title" and self._in_title:
            self._in_title = False
            self.page.title = "".join(self._title_parts)
        elif tag == "script" and self._script is not None:
            text = "".join(self._script)[:MAX_INLINE_SCRIPT]
            if text.strip():
                self.page.inline_scripts.append(text)
            self._script = None

    def handle_data(self, data):
        if self._in_title:
            self._title_parts.append(data)
        elif self._script is not None:
            self._script.append(data)
        elif not self._skip_text and self._text_size < MAX_TEXT:
            self.text_parts.append(data)
            self._text_size += len(data)
