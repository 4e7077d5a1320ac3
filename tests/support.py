"""Test helpers: real Maltego XML requests over a real socket, and response parsing.

Nothing here stands in for the thing under test: requests go through werkzeug's HTTP server
on 127.0.0.1 into the Flask app, exactly as Maltego's client would send them.
"""
from __future__ import annotations

import threading
import urllib.request
from dataclasses import dataclass, field
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

from werkzeug.serving import make_server


class ServerThread:
    """Serve a WSGI app on 127.0.0.1 with an ephemeral port, in a daemon thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def maltego_request(entity_type: str, value: str, properties: dict | None = None, settings: dict | None = None,
                    soft: int | None = 12, hard: int | None = 12, short_type: str | None = None,
                    genealogy: list[str] | None = None) -> bytes:
    """A v2 request shaped like the real one in shared/fixtures/maltego (short Type + Genealogy)."""
    genealogy = genealogy if genealogy is not None else [entity_type]
    short = short_type or entity_type.rsplit(".", 1)[-1]
    types = "".join(f'<Type Name={quoteattr(t)} OldName={quoteattr(t.rsplit(".", 1)[-1])}/>' for t in genealogy)
    fields = "".join(f'<Field Name={quoteattr(k)} DisplayName={quoteattr(k)}>{escape(str(v))}</Field>'
                     for k, v in (properties or {}).items())
    transform_fields = "".join(f'<Field Name={quoteattr(k)}>{escape(str(v))}</Field>' for k, v in (settings or {}).items())
    limits = "" if soft is None else f'<Limits SoftLimit="{soft}" HardLimit="{hard}"/>'
    return (f'<MaltegoMessage><MaltegoTransformRequestMessage><Entities><Entity Type={quoteattr(short)}>'
            f'<Genealogy>{types}</Genealogy><AdditionalFields>{fields}</AdditionalFields>'
            f'<Value>{escape(value)}</Value><Weight>0</Weight></Entity></Entities>'
            f'<TransformFields>{transform_fields}</TransformFields>{limits}'
            f'</MaltegoTransformRequestMessage></MaltegoMessage>').encode("utf-8")


def post(url: str, body: bytes, content_type: str = "text/xml", timeout: float = 30) -> tuple[int, str, str]:
    """(status, content type, text) of a POST; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode("utf-8", "replace")


@dataclass
class ResultEntity:
    type: str
    value: str
    fields: dict[str, str] = field(default_factory=dict)
    display: str = ""

    @property
    def link(self) -> dict[str, str]:
        return {k[5:]: v for k, v in self.fields.items() if k.startswith("link#")}


@dataclass
class MaltegoResponse:
    entities: list[ResultEntity]
    messages: list[tuple[str, str]]
    exceptions: list[str]

    def values(self) -> set[str]:
        return {e.value for e in self.entities}

    def message_text(self) -> str:
        return " | ".join(text for _, text in self.messages)


def parse_response(text: str) -> MaltegoResponse:
    root = ElementTree.fromstring(text)
    assert root.tag == "MaltegoMessage", text[:200]
    entities = []
    for entity in root.iter("Entity"):
        fields = {f.get("Name"): (f.text or "") for f in entity.iter("Field")}
        display = " ".join((label.text or "") for label in entity.iter("Label"))
        entities.append(ResultEntity(entity.get("Type"), entity.findtext("Value") or "", fields, display))
    messages = [(m.get("MessageType"), m.text or "") for m in root.iter("UIMessage")]
    exceptions = [e.text or "" for e in root.iter("Exception")]
    return MaltegoResponse(entities, messages, exceptions)


def run_transform(base_url: str, name: str, entity_type: str, value: str, **kwargs) -> MaltegoResponse:
    status, content_type, text = post(f"{base_url}/run/{name}/", maltego_request(entity_type, value, **kwargs))
    assert status == 200, (status, text[:300])
    assert "xml" in content_type, content_type
    return parse_response(text)
