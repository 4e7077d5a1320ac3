"""The TDS import files (transforms.csv, settings.csv) in exactly the layout maltego-trx's TransformRegistry
writes: same header, a field quoted only when it holds a comma, `;`-joined lists, transform settings then
global `global#` settings on every row, output entities last, and files over 100 rows split evenly into
transforms_1-2.csv, transforms_2-2.csv ...

Written here rather than through TransformRegistry because the registry wants a decorated class per
transform and builds URLs with the OS path separator; tests compare this output with the registry's, byte
for byte.
"""
from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urlsplit

TRANSFORMS_HEADER = ("Owner,Author,Disclaimer,Description,Version,Name,UIName,URL,entityName,"
                     "oAuthSettingId,transformSettingIDs,seedIDs,outputEntities")
SETTINGS_HEADER = "Name,Type,Display,DefaultValue,Optional,Popup"
CSV_LINE_LIMIT = 100

OWNER = "DTF transform pack"
AUTHOR = "dtf-maltego contributors"
SEED_ID = "dtfmaltego"
DISCLAIMER = ""
OAUTH_SETTING_ID = ""


def pack_version() -> str:
    try:
        return metadata.version("dtf-maltego")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def clean_text(text: str) -> str:
    """One line, no double quotes: maltego-trx's writer escapes neither, so a stray quote or newline would
    break the CSV for the TDS. Applied to free text before it reaches the writer."""
    return " ".join(str(text).replace('"', "'").split())


def normalize_base_url(base_url: str) -> str:
    """The server's public address as http(s)://host[:port][/prefix], without a trailing slash."""
    parts = urlsplit(str(base_url).strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"base URL {base_url!r} must look like http://203.0.113.5:8080 or https://dtf.example.org")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _field(text: str) -> str:
    return f'"{text}"' if "," in text else text


def _row(values) -> str:
    return ",".join(_field(v) for v in values)


@dataclass(frozen=True)
class Row:
    """One transform as the TDS sees it."""
    name: str
    display: str
    description: str
    input: str
    settings: tuple[str, ...]
    outputs: tuple[str, ...]


def rows_of(specs) -> list[Row]:
    return [Row(spec.name, clean_text(spec.display), clean_text(spec.description), spec.input,
                tuple(s.id for s in spec.settings), tuple(spec.outputs)) for spec in specs]


def transform_lines(rows: list[Row], base_url: str, global_settings) -> list[str]:
    host = normalize_base_url(base_url)
    global_ids = [s.id for s in global_settings]
    version = pack_version()
    return [_row([OWNER, AUTHOR, DISCLAIMER, row.description, version, row.name, row.display,
                  posixpath.join(host, "run", row.name), row.input, OAUTH_SETTING_ID,
                  ";".join([*row.settings, *global_ids]), SEED_ID, ";".join(row.outputs)])
            for row in rows]


def setting_lines(specs, global_settings) -> list[str]:
    """Global settings first, then each transform's, the first of each name only."""
    lines, seen = [], set()
    for setting in [*global_settings, *(s for spec in specs for s in spec.settings)]:
        if setting.name in seen:
            continue
        seen.add(setting.name)
        lines.append(_row([setting.id, setting.type, clean_text(setting.display), clean_text(setting.default or ""),
                           "True" if setting.optional else "False", "Yes" if setting.popup else "No"]))
    return lines


def csv_text(header: str, lines: list[str]) -> str:
    return header + "\n" + "".join(line + "\n" for line in lines)


def split_files(file_name: str, header: str, lines: list[str], limit: int = CSV_LINE_LIMIT) -> dict[str, str]:
    """{file name: text} as the TDS wants them: one file, or chunks of even size named name_i-n.ext."""
    if len(lines) <= limit:
        return {file_name: csv_text(header, lines)}
    chunks = math.ceil(len(lines) / limit)
    size = math.ceil(len(lines) / chunks)
    parts = [lines[i:i + size] for i in range(0, len(lines), size)]
    stem, ext = file_name.rsplit(".", 1)
    return {f"{stem}_{i}-{len(parts)}.{ext}": csv_text(header, part) for i, part in enumerate(parts, 1)}
