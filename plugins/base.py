"""The contract between the pivot engine and its data sources.

A plugin says, per pivot ID, whether it can `extract` (infrastructure -> characteristic
values) and/or `expand` (characteristic value -> infrastructure). It knows pivots as
catalog entries and values as normalised strings; it knows nothing of Maltego.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from dtf_catalog import Pivot

EXTRACT = "extract"
EXPAND = "expand"


@dataclass(frozen=True)
class Subject:
    """A piece of infrastructure: kind (domain, ip, url, ...) and its normalised value."""
    kind: str
    value: str


@dataclass(frozen=True)
class Finding:
    """A characteristic value found on a subject."""
    pivot: str
    value: str
    key: str
    source: str
    first_seen: str | None = None
    last_seen: str | None = None
    shown_as: str | None = None     # a companion value, not the pivot's characteristic (e.g. the
                                    # certificate fingerprint beside its SANs): shown as an entity of
                                    # this subject kind on extract, never expanded nor written to the store


@dataclass(frozen=True)
class Hit:
    """A subject found to share a characteristic value."""
    subject: Subject
    pivot: str
    value: str
    source: str
    first_seen: str | None = None
    last_seen: str | None = None
    value_key: str | None = None    # the normalised key of value, when it differs from the display


@dataclass
class Expansion:
    hits: list[Hit] = field(default_factory=list)
    total: int | None = None        # how many the source holds, when it says
    truncated: bool = False         # the source had more than it returned


@dataclass
class Context:
    """What a plugin may know about the request: settings, a result cap and a deadline."""
    settings: dict = field(default_factory=dict)
    limit: int = 100
    deadline: float = field(default_factory=lambda: time.monotonic() + 10.0)

    def setting(self, name: str, default=None):
        value = self.settings.get(name)
        return default if value in (None, "") else value

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


@dataclass(frozen=True)
class Setting:
    """A transform setting as Maltego declares it (name, type, display, default, optional, popup)."""
    name: str
    display: str
    type: str = "string"
    default: str = ""
    optional: bool = True
    popup: bool = False
    global_setting: bool = False

    @property
    def id(self) -> str:
        return f"global#{self.name}" if self.global_setting else self.name


class PluginError(RuntimeError):
    """A plugin could not answer; the message is shown to the analyst, so keep secrets out."""


class PluginSkipped(PluginError):
    """The plugin cannot take part in this request (e.g. no API key configured): the engine shows the
    message once per request as an Inform instead of an error."""


class PluginStopped(PluginError):
    """The source stopped answering part-way (quota, rate limit, deadline): reported as a PartialError,
    while `partial` (what was found before the stop, same type as the normal answer) is still used."""

    def __init__(self, message: str, partial=None):
        super().__init__(message)
        self.partial = partial


class Plugin(Protocol):
    """`live = True` plugins get the engine's TTL cache and write-through to the store."""
    name: str
    live: bool

    def capabilities(self) -> dict[str, set[str]]:
        """Pivot ID -> {"extract", "expand"} for the pivots this plugin serves."""

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        ...

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        ...
