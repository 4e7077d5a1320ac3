"""RDAP domain answers (RFC 9083) -> registration facts: registrar, dates, registrant, name servers.

Real answers vary: the registrar name sits in `fn` at one registry and only in `org` at
another; dates come as `Z`, `+0000` or with milliseconds; ccTLDs omit events; registrant
data is mostly redacted. The parser reads what is there and skips placeholders.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from store.importer import Record, RecordError
from store.normalize import InvalidValue, iso_date, iso_timestamp

from .names import clean_name, registered_domain

REGISTRAR, REGISTRATION, REGISTRANT, REGISTRANT_EMAIL = "P0101.001", "P0101.002", "P0101.003", "P0101.004"
NAME_SERVER, NAME_SERVER_DOMAIN = "P0101.010", "P0101.011"
PIVOTS = (REGISTRAR, REGISTRATION, REGISTRANT, REGISTRANT_EMAIL, NAME_SERVER, NAME_SERVER_DOMAIN)

# Placeholders registrars publish instead of the real registrant.
_REDACTED = re.compile(
    r"redact|privacy|private|withheld|not\s*disclosed|undisclosed|data\s*protected|gdpr|masked|hidden|"
    r"statutory|non-public|anonymi[sz]ed|proxy|please\s+query|contact\s+the\s+registrar|^\W*(n/?a|none|null|-)\W*$",
    re.IGNORECASE)
_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})")


class RdapFormatError(ValueError):
    """The document is not an RDAP domain answer."""


@dataclass
class RdapFacts:
    domain: str | None = None
    registrars: list[str] = field(default_factory=list)
    registrations: list[str] = field(default_factory=list)     # YYYY-MM-DD
    registrants: list[str] = field(default_factory=list)
    registrant_emails: list[str] = field(default_factory=list)
    nameservers: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)            # the registrar's RDAP URLs
    updated: str | None = None                                  # "last update of RDAP database", ISO

    def pairs(self) -> list[tuple[str, str]]:
        """(pivot ID, raw value) for every fact, name-server domains derived from the name servers."""
        out = [(REGISTRAR, v) for v in self.registrars]
        out += [(REGISTRATION, v) for v in self.registrations]
        out += [(REGISTRANT, v) for v in self.registrants]
        out += [(REGISTRANT_EMAIL, v) for v in self.registrant_emails]
        out += [(NAME_SERVER, v) for v in self.nameservers]
        domains = [registered_domain(ns) for ns in self.nameservers]
        out += [(NAME_SERVER_DOMAIN, d) for d in dict.fromkeys(domains) if d]
        return out


def parse_domain(doc) -> RdapFacts:
    """Facts of one RDAP domain object."""
    if not isinstance(doc, dict):
        raise RdapFormatError("an RDAP domain answer is a JSON object")
    if doc.get("objectClassName", "domain") != "domain":
        raise RdapFormatError(f"objectClassName is {doc.get('objectClassName')!r}, not 'domain'")
    facts = RdapFacts(domain=clean_name(doc.get("ldhName") or doc.get("unicodeName") or ""))
    for entity in _entities(doc.get("entities")):
        roles = {str(r).lower() for r in entity.get("roles") or () if isinstance(r, str)}
        card = vcard(entity)
        if "registrar" in roles:
            _add(facts.registrars, _first(card.get("fn")) or _first(card.get("org")))
        if "registrant" in roles:
            for name in (_first(card.get("org")), _first(card.get("fn"))):
                if name and not _REDACTED.search(name):
                    _add(facts.registrants, name)
            for mail in card.get("email", ()):
                if mail and not _REDACTED.search(mail) and "@" in mail:
                    _add(facts.registrant_emails, mail.strip().removeprefix("mailto:"))
    for event in doc.get("events") or ():
        if not isinstance(event, dict):
            continue
        action = str(event.get("eventAction") or "").strip().lower()
        if action == "registration":
            _add(facts.registrations, event_date(event.get("eventDate")))
        elif action == "last update of rdap database":
            facts.updated = event_timestamp(event.get("eventDate"))
    for server in doc.get("nameservers") or ():
        if isinstance(server, dict):
            _add(facts.nameservers, clean_name(server.get("ldhName") or server.get("unicodeName") or ""))
    facts.related = related_links(doc)
    return facts


def merge(registry: RdapFacts, registrar: RdapFacts | None) -> RdapFacts:
    """The registry's answer completed by the registrar's: registry first for the registrar and
    dates (it is authoritative for them), registrar first for the registrant (thin registries
    publish none)."""
    if registrar is None:
        return registry
    out = RdapFacts(domain=registry.domain or registrar.domain, related=registry.related,
                    updated=registry.updated or registrar.updated)
    out.registrars = _union(registry.registrars, registrar.registrars)[:1] or []
    out.registrations = _union(registry.registrations, registrar.registrations)[:1]
    out.registrants = _union(registrar.registrants, registry.registrants)
    out.registrant_emails = _union(registrar.registrant_emails, registry.registrant_emails)
    out.nameservers = _union(registry.nameservers, registrar.nameservers)
    return out


def related_links(doc: dict) -> list[str]:
    """Links to the same domain at the registrar (`rel: related`, an RDAP media type or a /domain/ path)."""
    self_links = {str(link.get("href", "")).lower() for link in doc.get("links") or ()
                  if isinstance(link, dict) and link.get("rel") == "self"}
    found = []
    for link in doc.get("links") or ():
        if not isinstance(link, dict) or link.get("rel") != "related":
            continue
        href = str(link.get("href") or "").strip()
        kind = str(link.get("type") or "").lower()
        if not href.lower().startswith(("http://", "https://")) or href.lower() in self_links:
            continue
        if "rdap" in kind or "/domain/" in href.lower():
            _add(found, href)
    return found


def vcard(entity: dict) -> dict[str, list[str]]:
    """A jCard (`vcardArray`) as property name -> text values; structured values joined."""
    out: dict[str, list[str]] = {}
    array = entity.get("vcardArray")
    if not (isinstance(array, list) and len(array) >= 2 and isinstance(array[1], list)):
        return out
    for prop in array[1]:
        if not (isinstance(prop, list) and len(prop) >= 4 and isinstance(prop[0], str)):
            continue
        values = prop[3:]
        parts = []
        for value in values:
            if isinstance(value, list):
                parts += [str(v).strip() for v in value if isinstance(v, (str, int)) and str(v).strip()]
            elif isinstance(value, (str, int)) and str(value).strip():
                parts.append(str(value).strip())
        if parts:
            out.setdefault(prop[0].lower(), []).append(", ".join(parts))
    return out


def event_date(raw) -> str | None:
    """YYYY-MM-DD of an RDAP event date in any of the seen layouts, None when unreadable."""
    if raw in (None, ""):
        return None
    try:
        return iso_date(raw)
    except InvalidValue:
        match = _DATE_PREFIX.match(str(raw).strip())
        if match:
            try:
                return iso_date(match.group(1))
            except InvalidValue:
                return None
    return None


def event_timestamp(raw) -> str | None:
    if raw in (None, ""):
        return None
    try:
        return iso_timestamp(raw)
    except InvalidValue:
        day = event_date(raw)
        return f"{day}T00:00:00Z" if day else None


def _entities(entities, depth: int = 0):
    """Entities and their nested entities (registrant contacts sometimes sit one level down)."""
    if depth > 3 or not isinstance(entities, list):
        return
    for entity in entities:
        if isinstance(entity, dict):
            yield entity
            yield from _entities(entity.get("entities"), depth + 1)


def _first(values) -> str | None:
    for value in values or ():
        if value and value.strip():
            return value.strip()
    return None


def _add(items: list, value) -> None:
    if value and value not in items:
        items.append(value)


def _union(first: list, second: list) -> list:
    return list(dict.fromkeys([*first, *second]))


# ---- importer ------------------------------------------------------------------------------------

def read_rdap(path: Path, progress=None):
    """`import rdap FILE`: a saved RDAP domain answer (an object, an array of them, or JSON lines)."""
    raw = Path(path).read_bytes()
    if progress:
        progress(len(raw))
    try:
        documents = _documents(raw)
    except ValueError as exc:
        yield str(path), RecordError(f"not JSON ({exc})")
        return
    for location, doc in ((f"{path}#{n}" if len(documents) > 1 else str(path), d)
                          for n, d in enumerate(documents, start=1)):
        try:
            facts = parse_domain(doc)
        except RdapFormatError as exc:
            yield location, RecordError(str(exc))
            continue
        if not facts.domain:
            yield location, RecordError("the RDAP answer has no usable ldhName")
            continue
        pairs = facts.pairs()
        if not pairs:
            yield location, RecordError(f"the RDAP answer for {facts.domain} holds no registration pivot value")
        for pivot, value in pairs:
            yield location, Record("domain", facts.domain, pivot, value, first_seen=facts.updated,
                                   last_seen=facts.updated)


def _documents(raw: bytes) -> list:
    text = raw.decode("utf-8-sig")
    try:
        doc = json.loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise
        return [json.loads(line) for line in lines]
    return doc if isinstance(doc, list) else [doc]
