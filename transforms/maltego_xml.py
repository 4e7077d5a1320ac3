"""The thin adapter between Maltego's v2 XML protocol and the engine's neutral request/response.

Requests are parsed with defusedxml (no DTDs, no entity expansion, no external references);
responses are built with maltego-trx's own message classes, so the XML is what its clients expect.
"""
from __future__ import annotations

from xml.etree import ElementTree
from xml.etree.ElementTree import ParseError
from xml.etree.ElementTree import _escape_attrib, _escape_cdata  # the stdlib's own escaping: identical output

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from maltego_trx.maltego import MaltegoEntity, MaltegoTransform
from maltego_trx.utils import remove_invalid_xml_chars

from entities.types import resolve_type

from .model import BadRequest, InputEntity, TransformRequest, TransformResponse

DEFAULT_SOFT_LIMIT = 12
DEFAULT_HARD_LIMIT = 10000


def parse_request(body: bytes) -> TransformRequest:
    """A Maltego transform request from raw bytes; every defect becomes a BadRequest naming it."""
    if not body or not body.strip():
        raise BadRequest("empty request: expected a MaltegoMessage XML document")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise BadRequest("request refused: XML with a DTD or entity declarations is not accepted") from None
    except ParseError as exc:
        raise BadRequest(f"request is not well-formed XML ({exc})") from None
    if root.tag != "MaltegoMessage":
        raise BadRequest(f"expected a MaltegoMessage document, got <{root.tag}>")
    message = root.find("MaltegoTransformRequestMessage")
    if message is None:
        raise BadRequest("the MaltegoMessage holds no MaltegoTransformRequestMessage")
    entity = message.find("Entities/Entity")
    if entity is None:
        raise BadRequest("the request holds no entity")
    genealogy = [t.get("Name", "") for t in entity.findall("Genealogy/Type") if t.get("Name")]
    entity_type = resolve_type(entity.get("Type", ""), genealogy)
    properties = {f.get("Name", ""): (f.text or "") for f in entity.findall("AdditionalFields/Field") if f.get("Name")}
    value = (entity.findtext("Value") or "").strip()
    if not value:
        raise BadRequest(f"the {entity_type or 'input'} entity has no value")
    settings = {f.get("Name", ""): (f.text or "") for f in message.findall("TransformFields/Field") if f.get("Name")}
    limits = message.find("Limits")
    soft = _int_attr(limits, "SoftLimit", DEFAULT_SOFT_LIMIT)
    hard = _int_attr(limits, "HardLimit", DEFAULT_HARD_LIMIT)
    return TransformRequest(InputEntity(entity_type, value, properties), settings, soft, hard)


def _int_attr(element, name: str, default: int) -> int:
    if element is None or element.get(name) in (None, ""):
        return default
    try:
        number = int(element.get(name))
    except ValueError:
        raise BadRequest(f"Limits {name}={element.get(name)!r} is not a whole number") from None
    if number < 0:
        raise BadRequest(f"Limits {name} must not be negative")
    return number


def local_request(entity_type: str, value: str, properties: str | None) -> TransformRequest:
    """A request from Maltego's local-transform command line: VALUE and `k=v#k2=v2` (with \\# \\= \\\\ escapes)."""
    props: dict[str, str] = {}
    if properties:
        for part in _split_unescaped(properties, "#"):
            if not part:
                continue
            pieces = _split_unescaped(part, "=", 1)
            if len(pieces) == 2:
                props[_unescape(pieces[0])] = _unescape(pieces[1])
    if not value.strip():
        raise BadRequest("the input entity has no value")
    return TransformRequest(InputEntity(entity_type, value.strip(), props), {}, 100, 10000)


def _split_unescaped(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    parts, current, i = [], "", 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current += text[i:i + 2]
            i += 2
            continue
        if char == separator and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    parts.append(current)
    return parts


def _unescape(text: str) -> str:
    out, i = "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out += text[i + 1]
            i += 2
        else:
            out += text[i]
            i += 1
    return out


def render(response: TransformResponse) -> str:
    """The response as Maltego XML (maltego-trx message classes, compact serialisation)."""
    if response.error is not None:
        return render_error(response.error)
    message = MaltegoTransform()
    for item in response.entities:
        entity: MaltegoEntity = message.addEntity(item.type, _clean(item.value))
        entity.setWeight(item.weight)
        for prop in item.properties:
            entity.addProperty(prop.name, prop.display, prop.matching, _clean(prop.value))
        for name, value in item.link.items():
            entity.addProperty(f"link#{name}", _LINK_DISPLAY.get(name, name), "loose", _clean(value))
        for title, content in item.display:
            entity.addDisplayInformation(_clean(content), title)
    for kind, text in response.messages:
        message.addUIMessage(_clean(text), kind)
    return _serialize(message.build_xml())


def render_error(text: str) -> str:
    """A MaltegoTransformExceptionMessage: the client shows it as the transform's error."""
    message = MaltegoTransform()
    message.addException(_clean(text))
    return _serialize(message.build_exceptions_xml())


_LINK_DISPLAY = {
    "maltego.link.label": "Label",
    "maltego.link.color": "LinkColor",
    "maltego.link.show-label": "Show Label",
    "dtf.pivot": "DTF pivot",
    "dtf.pivot.name": "DTF pivot name",
    "dtf.tactic": "DTF tactic",
    "dtf.value": "DTF value",
    "dtf.sources": "DTF sources",
    "dtf.first_seen": "First seen",
    "dtf.last_seen": "Last seen",
    "dtf.matches": "DTF matches",
}


def _clean(text) -> str:
    text = str(text)
    if text.isascii() and text.isprintable():  # nothing to replace: skip the encode/regex round trip
        return text
    return remove_invalid_xml_chars(text)


class _Unusual(Exception):
    """An element the fast writer does not handle (namespaces, QName, comments): use ElementTree."""


def _serialize(element) -> str:
    """Same text as ElementTree.tostring(element, encoding="unicode"), several times faster.

    maltego-trx builds plain elements (no namespaces, string tags, attributes and text), so the
    generic namespace pass can be skipped; escaping is ElementTree's own, so the output is equal.
    """
    parts: list[str] = []
    try:
        _write_element(element, parts.append)
    except _Unusual:
        return ElementTree.tostring(element, encoding="unicode")
    return "".join(parts)


def _write_element(element, write) -> None:
    tag = element.tag
    if type(tag) is not str or "{" in tag:
        raise _Unusual
    start = "<" + tag
    for name, value in element.items():
        if type(name) is not str or "{" in name or type(value) is not str:
            raise _Unusual
        start += f' {name}="{_escape_attrib(value)}"'
    text = element.text
    if len(element):
        write(f"{start}>{_escape_cdata(text)}" if text else start + ">")
        for child in element:
            _write_element(child, write)
        write(f"</{tag}>")
    elif text:
        write(f"{start}>{_escape_cdata(text)}</{tag}>")
    else:
        write(start + " />")
    if element.tail:
        write(_escape_cdata(element.tail))
