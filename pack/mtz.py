"""The XML files of a Maltego configuration archive (.mtz) and the archive itself.

Element and attribute names follow files the Maltego client exported itself (see
../shared/fixtures/maltego/ and maltego-formats.md section 1); this module only writes them.
"""
from __future__ import annotations

import datetime as _dt
import io
import zipfile
from typing import Iterable
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from entities.definitions import EntityDef

LOCAL_ADAPTER = "com.paterva.maltego.transform.protocol.v2api.LocalTransformAdapterV2"


def serialize(root: Element) -> bytes:
    """UTF-8 XML indented like the client's exports (three spaces), without a declaration."""
    indent(root, space="   ")
    # `<Groups/>` as the client writes it; " />" cannot occur elsewhere since '>' is escaped in text and values
    return tostring(root, encoding="unicode").replace(" />", "/>").encode("utf-8")


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


# ---- entities ------------------------------------------------------------------------------------

def category_xml(name: str) -> bytes:
    return serialize(Element("EntityCategory", {"name": name}))


def entity_xml(entity: EntityDef) -> bytes:
    root = Element("MaltegoEntity", {
        "id": entity.id, "displayName": entity.display, "displayNamePlural": entity.plural,
        "description": entity.description, "category": entity.category,
        "smallIconResource": entity.icon_resource, "largeIconResource": entity.icon_resource,
        "allowedRoot": "true", "conversionOrder": str(entity.conversion_order), "visible": "true",
    })
    if entity.converter:
        converter = SubElement(root, "Converter")
        SubElement(converter, "Value").text = entity.converter.regex
        groups = SubElement(converter, "RegexGroups")
        for prop in entity.converter.groups:
            SubElement(groups, "RegexGroup", {"property": prop})
    value = entity.value_field.name
    properties = SubElement(root, "Properties", {"value": value, "displayValue": value})
    SubElement(properties, "Groups")
    fields = SubElement(properties, "Fields")
    for item in entity.fields:
        field = SubElement(fields, "Field", {
            "name": item.name, "type": item.type, "nullable": "true", "hidden": "false", "readonly": "false",
            "description": item.description, "displayName": item.display,
        })
        if item is entity.value_field:
            SubElement(field, "DefaultValue").text = item.sample
        SubElement(field, "SampleValue").text = item.sample
    return serialize(root)


# ---- local transforms ----------------------------------------------------------------------------

_LOCAL_PROPERTIES = (
    # name, type, nullable, description, display name
    ("transform.local.command", "string", False, "The program Maltego starts for this transform", "Command line"),
    ("transform.local.parameters", "string", True, "Arguments given to the program before the entity",
     "Command parameters"),
    ("transform.local.working-directory", "string", True, "Directory the program is started in",
     "Working directory"),
    ("transform.local.debug", "boolean", True, "Print the transform's own output in Maltego's output window",
     "Show debug info"),
)


def transform_xml(name: str, display: str, description: str, input_type: str, author: str,
                  set_name: str | None, workdir: str) -> bytes:
    """A local transform definition; the per-install values live in the .transformsettings."""
    root = Element("MaltegoTransform", {
        "name": name, "displayName": display, "abstract": "false", "template": "false",
        "visibility": "public", "description": description, "author": author, "requireDisplayInfo": "false",
    })
    SubElement(root, "TransformAdapter").text = LOCAL_ADAPTER
    fields = SubElement(SubElement(root, "Properties"), "Fields")
    for prop_name, prop_type, nullable, prop_description, prop_display in _LOCAL_PROPERTIES:
        prop = SubElement(fields, "Property", {
            "name": prop_name, "type": prop_type, "nullable": _bool(nullable), "hidden": "false",
            "readonly": "false", "description": prop_description, "popup": "false", "abstract": "false",
            "visibility": "public", "auth": "false", "displayName": prop_display,
        })
        if prop_name == "transform.local.working-directory":
            SubElement(prop, "DefaultValue").text = workdir
        SubElement(prop, "SampleValue").text = "false" if prop_type == "boolean" else ""
    constraints = SubElement(root, "InputConstraints")
    SubElement(constraints, "Entity", {"type": input_type, "min": "1", "max": "1"})
    SubElement(root, "OutputEntities")
    if set_name:
        SubElement(SubElement(root, "defaultSets"), "Set", {"name": set_name})
    SubElement(root, "StealthLevel").text = "0"
    return serialize(root)


def transform_settings_xml(command: str, parameters: str, workdir: str, debug: bool = False) -> bytes:
    root = Element("TransformSettings", {
        "enabled": "true", "disclaimerAccepted": "false", "showHelp": "true", "runWithAll": "true",
        "favorite": "false",
    })
    properties = SubElement(root, "Properties")
    for name, prop_type, text in (("transform.local.command", "string", command),
                                  ("transform.local.parameters", "string", parameters),
                                  ("transform.local.working-directory", "string", workdir),
                                  ("transform.local.debug", "boolean", _bool(debug))):
        SubElement(properties, "Property", {"name": name, "type": prop_type, "popup": "false"}).text = text
    return serialize(root)


def last_sync(now: _dt.datetime) -> str:
    return now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def local_server_xml(transform_names: Iterable[str], now: _dt.datetime) -> bytes:
    root = Element("MaltegoServer", {
        "name": "Local", "enabled": "true", "description": "Local transforms hosted on this machine",
        "url": "http://localhost",
    })
    SubElement(root, "LastSync").text = last_sync(now)
    SubElement(root, "Protocol", {"version": "0.0"})
    SubElement(root, "Authentication", {"type": "none"})
    transforms = SubElement(root, "Transforms")
    for name in transform_names:
        SubElement(transforms, "Transform", {"name": name})
    SubElement(root, "Seeds")
    return serialize(root)


def transform_set_xml(name: str, description: str, transform_names: Iterable[str]) -> bytes:
    root = Element("TransformSet", {"name": name, "description": description})
    transforms = SubElement(root, "Transforms")
    for transform in transform_names:
        SubElement(transforms, "Transform", {"name": transform})
    return serialize(root)


# ---- properties files and the archive ------------------------------------------------------------

def properties_text(values: dict[str, str], now: _dt.datetime) -> bytes:
    """A Java properties file with the timestamp comment the client writes."""
    lines = ["#", "#" + now.strftime("%a %b %d %H:%M:%S UTC %Y")]
    lines += [f"{key}={value}" for key, value in values.items()]
    return ("\n".join(lines) + "\n").encode("utf-8")


def zip_bytes(members: Iterable[tuple[str, bytes]], now: _dt.datetime) -> bytes:
    """The archive; member names always use '/', whatever the exporting OS."""
    buffer = io.BytesIO()
    stamp = now.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        seen = set()
        for name, data in members:
            if "\\" in name or name.startswith("/") or name in seen:
                raise ValueError(f"bad or duplicate archive member name {name!r}")
            seen.add(name)
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
