"""The Maltego entities the pack defines (category "DTF") and the standard ones it reuses.

Which value entities exist is decided by the catalog: every pivot `value.entity` starting with `dtf.`
gets a definition. This module only adds what the catalog cannot say about them (display names,
plural forms, a sample, a regex converter where values have a shape, the glyph of their icon).
It takes the catalog as an argument and imports nothing of ours but entities.types.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .types import CUSTOM_PREFIX, value_property

CATEGORY = "DTF"
ICON_CATEGORY = "DTF"
ICON_DIR = Path(__file__).resolve().parent / "icons"
ICON_SIZES = (16, 24, 32, 48, 96)  # file suffixes: "", "24", "32", "48", "96"
CATALOG_COLOUR = "#34495E"  # DTF's own knowledge (tactics, pivots, examples, rules), not a tactic
LAST = 2147483647  # Maltego's "try this converter last / never"

# Standard Maltego types the pack relies on and never redefines (maltego-formats.md section 2).
STANDARD_TYPES: tuple[str, ...] = (
    "maltego.Phrase", "maltego.Domain", "maltego.DNSName", "maltego.NSRecord", "maltego.MXRecord",
    "maltego.Website", "maltego.IPv4Address", "maltego.IPv6Address", "maltego.AS", "maltego.Netblock",
    "maltego.URL", "maltego.Hash", "maltego.EmailAddress", "maltego.X509Certificate", "maltego.WebTitle",
    "maltego.Organization", "maltego.Location",
)

# Annotation properties (transforms/annotate.py) worth declaring on value entities, so they show with a name.
PIVOT_FIELD_NAME = "dtf.pivot"
TRAIL_FIELD_NAME = "dtf.trail"


@dataclass(frozen=True)
class EntityField:
    name: str
    display: str
    type: str = "string"          # Maltego field types seen in exports: string, int, date, boolean
    description: str = ""
    sample: str = ""


@dataclass(frozen=True)
class Converter:
    """Regex that turns pasted text into this entity; capture group i fills property groups[i]."""
    regex: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class EntityDef:
    id: str
    display: str
    plural: str
    description: str
    icon: str                     # icon file stem under entities/icons, referenced as DTF/<icon>
    colour: str                   # the icon's colour: the tactic's, or CATALOG_COLOUR
    glyph: str                    # drawing on the icon (tools/make_icons.py)
    shape: str                    # "square" for observed values, "circle" for DTF's own knowledge
    fields: tuple[EntityField, ...]
    converter: Converter | None = None
    conversion_order: int = LAST
    category: str = CATEGORY

    @property
    def value_field(self) -> EntityField:
        return self.fields[0]

    @property
    def icon_resource(self) -> str:
        return f"{ICON_CATEGORY}/{self.icon}"


@dataclass(frozen=True)
class ValueLook:
    """What the catalog does not say about a value entity: how it reads and looks in Maltego."""
    display: str
    plural: str
    glyph: str
    sample: str = ""
    converter: str | None = None   # regex with one capture group: the value
    order: int = LAST
    blurb: str = ""


# Per value entity (keys must be catalog value entities; a test checks none is stale).
VALUE_LOOKS: dict[str, ValueLook] = {
    "dtf.Registrar": ValueLook("Registrar", "Registrars", "registrar", "NameSilo, LLC",
                               blurb="The company a domain was bought through."),
    "dtf.RegistrationDate": ValueLook("Registration Date", "Registration Dates", "calendar", "2025-03-24",
                                      blurb="The day a domain was registered (ISO date)."),
    "dtf.Registrant": ValueLook("Registrant", "Registrants", "person", "Global Domain Group LLC",
                                blurb="The registrant name or organisation published for a domain."),
    "dtf.NameServerDomain": ValueLook("Name Server Domain", "Name Server Domains", "server", "cloudflare.com",
                                      blurb="The registered domain behind a domain's name servers."),
    "dtf.TLD": ValueLook("TLD", "TLDs", "globe", "top", r"^\.([A-Za-z][A-Za-z0-9-]{1,62})$", 60,
                         blurb="A top-level domain, kept without its leading dot; paste it as .top."),
    "dtf.DomainPattern": ValueLook("Domain Pattern", "Domain Patterns", "asterisk", "teams-*",
                                   r"^([A-Za-z0-9.-]*\*[A-Za-z0-9.*-]*)$", 60,
                                   blurb="A substring, glob or pattern that domain names are matched against."),
    "dtf.SubdomainLabel": ValueLook("Subdomain Label", "Subdomain Labels", "tag", "google",
                                    blurb="A label that appears to the left of the registered domain."),
    "dtf.DomainLength": ValueLook("Domain Length", "Domain Lengths", "ruler", "5",
                                  blurb="How many characters the registered name has, without the TLD."),
    "dtf.SOARName": ValueLook("SOA RName", "SOA RNames", "envelope", "hostmaster.example.com",
                              blurb="The responsible-person mailbox from a zone's SOA record."),
    "dtf.ASName": ValueLook("AS Name", "AS Names", "cloud", "ORANGEWEBSITE",
                            blurb="The name an autonomous system is registered under."),
    "dtf.CertIssuerOrg": ValueLook("Certificate Issuer Org", "Certificate Issuer Orgs", "certificate",
                                   "Let's Encrypt", blurb="The organisation in a certificate's issuer name."),
    "dtf.NotBeforeDate": ValueLook("Not Before Date", "Not Before Dates", "clock", "2025-06-01",
                                   blurb="The day a certificate became valid (ISO date)."),
    "dtf.EmbeddedCode": ValueLook("Embedded Code", "Embedded Code Snippets", "code", "getIPAddres",
                                  blurb="A distinctive snippet of script or markup found in a page."),
    "dtf.Keyword": ValueLook("Keyword", "Keywords", "magnifier", "free cheats",
                             blurb="A word or phrase that pages of a campaign share."),
    "dtf.ResourceName": ValueLook("Resource Name", "Resource Names", "document", "ads.php",
                                  blurb="The file name of a resource a page loads or serves."),
    "dtf.HTTPStatus": ValueLook("HTTP Status", "HTTP Statuses", "pulse", "200", r"^([1-5][0-9]{2})$", 60,
                                blurb="The three-digit status code a server answers with."),
}

# Glyph for a catalog value entity that has no look yet, by value kind (a new pivot still gets an icon).
GLYPH_BY_KIND: dict[str, str] = {
    "date": "calendar", "text": "tag", "dns": "server", "int": "ruler", "ip": "cloud", "asn": "cloud",
    "pattern": "asterisk", "label": "tag", "tld": "globe", "email": "envelope", "hash": "document",
    "url": "document", "country": "globe",
}

PIVOT_ID_RE = r"^(P[0-9]{4}(?:\.[0-9]{3})?)$"
TACTIC_ID_RE = r"^(PTA[0-9]{4})$"
EXAMPLE_ID_RE = r"^(EX[0-9]{4})$"


def icon_name(entity_id: str) -> str:
    """`dtf.NameServerDomain` -> `dtf_nameserverdomain` (prefixed: Maltego resolves bare icon names globally)."""
    return "dtf_" + re.sub(r"[^a-z0-9]", "", entity_id[len(CUSTOM_PREFIX):].lower())


def icon_files(icon: str) -> list[tuple[str, int]]:
    """File names Maltego expects per icon: name.png (16 px), name24.png ... name96.png."""
    return [(f"{icon}{'' if size == 16 else size}.png", size) for size in ICON_SIZES]


ICON_ALIASES_XML = "<Icon>\n   <Aliases/>\n</Icon>\n"


def _title(entity_id: str) -> str:
    """Fallback display name from the type name: `dtf.NewThing` -> `New Thing`."""
    name = entity_id[len(CUSTOM_PREFIX):]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)


def _plural(display: str) -> str:
    if re.search(r"(s|x|z|sh|ch)$", display):
        return display + "es"
    if re.search(r"[^aeiou]y$", display):
        return display[:-1] + "ies"
    return display + "s"


def _value(entity_id: str, display: str, sample: str) -> EntityField:
    return EntityField(value_property(entity_id), display, sample=sample)


def _annotations() -> tuple[EntityField, ...]:
    return (
        EntityField(PIVOT_FIELD_NAME, "DTF pivot", description="The latest DTF pivot that produced this entity"),
        EntityField(TRAIL_FIELD_NAME, "DTF trail",
                    description="JSON list of the (pivot, value) steps that led here from the seed"),
    )


def catalog_entities() -> list[EntityDef]:
    """Entities that put DTF itself on the graph: tactics, pivots, examples and hIGMA rules."""
    def make(entity_id, display, plural, description, glyph, fields, regex=None, order=LAST):
        converter = Converter(regex, (value_property(entity_id),)) if regex else None
        return EntityDef(entity_id, display, plural, description, icon_name(entity_id), CATALOG_COLOUR, glyph,
                         "circle", tuple(fields), converter, order if converter else LAST)

    return [
        make("dtf.PivotTactic", "DTF Pivot Tactic", "DTF Pivot Tactics",
             "A tactic of the Defender's ThreatMesh Framework matrix: a family of pivots (Domain, IP, SSL/TLS, "
             "Application).", "matrix", [
                 _value("dtf.PivotTactic", "Tactic ID", "PTA0001"),
                 EntityField("dtf.tactic.name", "Name", sample="Domain"),
                 EntityField("dtf.description", "Description"),
             ], TACTIC_ID_RE, 10),
        make("dtf.Pivot", "DTF Pivot", "DTF Pivots",
             "A DTF pivot: a characteristic that infrastructure can share, identified like P0101.010.", "hub", [
                 _value("dtf.Pivot", "Pivot ID", "P0101.010"),
                 EntityField("dtf.pivot.name", "Name", sample="Registration: Name Server"),
                 EntityField("dtf.tactic", "Tactic", description="Tactic ID, e.g. PTA0001"),
                 EntityField("dtf.parent", "Parent pivot"),
                 EntityField("dtf.description", "Description"),
             ], PIVOT_ID_RE, 10),
        make("dtf.Example", "DTF Example", "DTF Examples",
             "A published investigation that DTF lists as an example, with the pivots its authors used.", "book", [
                 _value("dtf.Example", "Example ID", "EX0001"),
                 EntityField("dtf.example.title", "Title"),
                 EntityField("dtf.example.year", "Year", description="Year of publication (empty when undated)",
                             sample="2024"),
                 EntityField("dtf.example.source", "Source", description="Link to the original write-up"),
                 EntityField("dtf.description", "Summary"),
             ], EXAMPLE_ID_RE, 10),
        make("dtf.HigmaRule", "hIGMA Rule", "hIGMA Rules",
             "A hIGMA rule: groups of DTF pivots and a condition that together describe one campaign's "
             "infrastructure.", "sigma", [
                 _value("dtf.HigmaRule", "Title", "LandUpdate808 Backend C2 Pivot"),
                 EntityField("dtf.higma.id", "Rule ID", sample="4d5e6f7a-8b9c-0d1e-2f3a-4b5c6d7e8f9a"),
                 EntityField("dtf.title", "Title"),
                 EntityField("dtf.status", "Status", sample="experimental"),
                 EntityField("dtf.description", "Description"),
                 EntityField("dtf.yaml", "Rule (YAML)", description="The full rule text"),
             ]),
    ]


def value_entities(catalog) -> list[EntityDef]:
    """One entity per custom type a catalog pivot shows its value as, in catalog order."""
    users: dict[str, list] = {}
    for pivot in catalog.pivots.values():
        if pivot.value and pivot.value.entity.startswith(CUSTOM_PREFIX):
            users.setdefault(pivot.value.entity, []).append(pivot)
    found = []
    for entity_id, pivots in users.items():
        first = pivots[0]
        look = VALUE_LOOKS.get(entity_id) or ValueLook(
            _title(entity_id), _plural(_title(entity_id)), GLYPH_BY_KIND.get(first.value.kind, "tag"))
        used_by = ", ".join(f"{p.id} ({p.name})" for p in pivots)
        description = " ".join(filter(None, [look.blurb, f"Value of DTF pivot {used_by}."]))
        converter = Converter(look.converter, (value_property(entity_id),)) if look.converter else None
        found.append(EntityDef(
            entity_id, look.display, look.plural, description, icon_name(entity_id),
            catalog.tactic(first.tactic).colour, look.glyph, "square",
            (_value(entity_id, look.display, look.sample),) + _annotations(),
            converter, look.order if converter else LAST))
    return found


def pack_entities(catalog) -> list[EntityDef]:
    """Everything the pack defines: DTF's own entities first, then the value entities."""
    return catalog_entities() + value_entities(catalog)


def defined_types(catalog) -> set[str]:
    return {entity.id for entity in pack_entities(catalog)}
