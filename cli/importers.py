"""Import formats by name: each maps to a reader turning FILE into (location, Record|RecordError) pairs.

Adding a format = one entry here (its parser lives with the plugin that speaks that format).
"""
from __future__ import annotations

from plugins.parsers.crtsh import read_crtsh
from plugins.parsers.pdns import read_pdns
from plugins.parsers.rdap import read_rdap
from plugins.securitytrails import read_export as read_securitytrails
from plugins.shodan import read_export as read_shodan
from plugins.urlscan import read_export as read_urlscan
from store.importer import read_jsonl

FORMATS = {
    "jsonl": read_jsonl,
    "rdap": read_rdap,
    "crtsh": read_crtsh,
    "pdns": read_pdns,
    "urlscan": read_urlscan,
    "shodan": read_shodan,
    "securitytrails": read_securitytrails,
}
