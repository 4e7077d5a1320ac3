"""crt.sh JSON -> certificates with their issuer organisation, names and not-before date.

crt.sh lists a certificate once per CT entry, so a precertificate and its final certificate
come as two rows (different `id`, same serial); they are merged here. Rows from older
answers lack `common_name` and `serial_number`; those are merged on what they do carry.
`name_value` holds the matched identities, one per line; wildcards are reduced to their base.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from store.importer import Record, RecordError
from store.normalize import InvalidValue, iso_timestamp

from .names import clean_name
from .rdap import event_date

ISSUER_ORG, SAN, NOT_BEFORE = "P0301", "P0302", "P0303"


class CrtshFormatError(ValueError):
    """The document is not a crt.sh JSON answer."""


@dataclass
class Certificate:
    ids: list[int] = field(default_factory=list)
    serial: str | None = None
    issuer_name: str = ""
    issuer_org: str | None = None
    names: list[str] = field(default_factory=list)
    not_before: str | None = None       # YYYY-MM-DD
    not_after: str | None = None        # YYYY-MM-DD
    logged: str | None = None           # earliest CT entry, ISO timestamp

    def pairs_for(self, name: str) -> list[tuple[str, str]]:
        """(pivot, raw value) this certificate gives `name`: issuer org, the other names, not-before."""
        out = [(ISSUER_ORG, self.issuer_org)] if self.issuer_org else []
        out += [(SAN, other) for other in self.names if other != name]
        if self.not_before:
            out.append((NOT_BEFORE, self.not_before))
        return out


def parse_certificates(doc) -> list[Certificate]:
    """Merged certificates of a crt.sh answer, the most recent not-before first."""
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):  # some mirrors wrap the array
        doc = doc["results"]
    if not isinstance(doc, list):
        raise CrtshFormatError("a crt.sh answer is a JSON array of certificate entries")
    merged: dict[tuple, Certificate] = {}
    for row in doc:
        if not isinstance(row, dict) or "name_value" not in row:
            continue
        names = [n for n in (clean_name(line) for line in str(row.get("name_value") or "").splitlines()) if n]
        common = clean_name(row.get("common_name") or "")
        if common and common not in names:
            names.append(common)
        issuer = str(row.get("issuer_name") or "").strip()
        serial = str(row.get("serial_number") or "").strip().lower() or None
        not_before, not_after = event_date(row.get("not_before")), event_date(row.get("not_after"))
        issuer_key = row.get("issuer_ca_id") or issuer
        key = ("serial", issuer_key, serial.lstrip("0")) if serial else ("dates", issuer_key, not_before, not_after,
                                                             frozenset(names))
        cert = merged.get(key)
        if cert is None:
            cert = merged[key] = Certificate(serial=serial, issuer_name=issuer, issuer_org=issuer_organisation(issuer),
                                             not_before=not_before, not_after=not_after)
        if isinstance(row.get("id"), int) and row["id"] not in cert.ids:
            cert.ids.append(row["id"])
        for name in names:
            if name not in cert.names:
                cert.names.append(name)
        logged = _timestamp(row.get("entry_timestamp"))
        if logged and (cert.logged is None or logged < cert.logged):
            cert.logged = logged
    return sorted(merged.values(), key=lambda c: c.not_before or "", reverse=True)


def issuer_organisation(dn: str) -> str | None:
    """The O= attribute of a distinguished name as crt.sh writes it ("C=US, O=Let's Encrypt, CN=R3")."""
    for attribute, value in distinguished_name(dn):
        if attribute.upper() in ("O", "ORGANIZATIONNAME", "2.5.4.10") and value:
            return value
    return None


def distinguished_name(dn: str) -> list[tuple[str, str]]:
    """(attribute, value) pairs of a comma-separated DN; double quotes and backslash escapes honoured."""
    pairs, attribute, value = [], "", ""
    in_value = quoted = escaped = False
    for char in dn or "":
        if escaped:
            value, escaped = value + char, False
        elif char == "\\":
            escaped = True
        elif in_value and char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            pairs.append((attribute.strip(), value.strip()))
            attribute, value, in_value = "", "", False
        elif char == "=" and not in_value:
            in_value = True
        elif in_value:
            value += char
        else:
            attribute += char
    if attribute.strip():
        pairs.append((attribute.strip(), value.strip()))
    return pairs


def _timestamp(raw) -> str | None:
    if not raw:
        return None
    try:
        return iso_timestamp(raw)
    except InvalidValue:
        return None


# ---- importer ------------------------------------------------------------------------------------

def read_crtsh(path, progress=None):
    """`import crtsh FILE`: a saved crt.sh JSON answer; every name on a certificate becomes a subject
    with the issuer organisation, the certificate's other names and its not-before date."""
    raw = Path(path).read_bytes()
    if progress:
        progress(len(raw))
    try:
        certificates = parse_certificates(json.loads(raw.decode("utf-8-sig")))
    except ValueError as exc:  # invalid JSON or not a crt.sh array
        yield str(path), RecordError(f"not a crt.sh JSON answer ({exc})")
        return
    if not certificates:
        yield str(path), RecordError("no certificate entry with a name_value")
        return
    for cert in certificates:
        location = f"{path}#crt.sh id {cert.ids[0]}" if cert.ids else str(path)
        for name in cert.names:
            for pivot, value in cert.pairs_for(name):
                yield location, Record("domain", name, pivot, value, first_seen=cert.logged, last_seen=cert.logged)
