"""Protocol-neutral request and response of a transform; adapters (Maltego XML, CLI) convert to and from these."""
from __future__ import annotations

from dataclasses import dataclass, field

INFORM, PARTIAL, FATAL, DEBUG = "Inform", "PartialError", "FatalError", "Debug"


@dataclass
class InputEntity:
    type: str
    value: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class TransformRequest:
    entity: InputEntity
    settings: dict[str, str] = field(default_factory=dict)
    soft_limit: int = 12
    hard_limit: int = 10000

    @property
    def limit(self) -> int:
        return max(0, min(self.soft_limit, self.hard_limit))


@dataclass
class Property:
    name: str
    display: str
    value: str
    matching: str = "loose"


@dataclass
class OutputEntity:
    type: str
    value: str
    properties: list[Property] = field(default_factory=list)
    link: dict[str, str] = field(default_factory=dict)         # link#<name> -> value
    display: list[tuple[str, str]] = field(default_factory=list)  # (title, html)
    weight: int = 100


@dataclass
class TransformResponse:
    entities: list[OutputEntity] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    error: str | None = None                                       # whole-request failure
    truncated_sources: list[str] = field(default_factory=list)     # sources that held more than they gave

    @property
    def more_available(self) -> bool:
        return bool(self.truncated_sources)

    def inform(self, text: str) -> None:
        self.messages.append((INFORM, text))

    def partial(self, text: str) -> None:
        self.messages.append((PARTIAL, text))


class BadRequest(ValueError):
    """The request cannot be run as sent; the message goes to the analyst verbatim."""
