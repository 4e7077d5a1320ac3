"""Everything Maltego imports, from the service's transform registry and the entity definitions:

- `dtf-maltego.mtz`: entities, icons, transform sets, machines and local transforms that start this
  install's Python in this checkout (the local install path: import it and run, nothing to edit);
- `dtf-maltego-paired.mtz`: the same without local transforms, to attach to a TDS seed as its paired
  configuration (the server install path);
- `transforms.csv` (+ `transforms_i-n.csv` when over 100 rows) and `settings.csv` for the TDS.

The web page serves the same bytes through `mtz_bytes`, `transforms_csv` and `settings_csv`.
"""
from __future__ import annotations

import datetime as _dt
import ntpath
import os
import posixpath
import re
import sys
import tempfile
from pathlib import Path

from entities.definitions import CATEGORY, ICON_CATEGORY, ICON_DIR, icon_files, pack_entities
from transforms.registry import tactic_set_name

from . import mtz, tds
from .machines import AUTHOR, build_machines

CHECKOUT = Path(__file__).resolve().parent.parent
MTZ_NAME = "dtf-maltego.mtz"
PAIRED_MTZ_NAME = "dtf-maltego-paired.mtz"
TRANSFORMS_CSV = "transforms.csv"
SETTINGS_CSV = "settings.csv"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
ENTRY_SCRIPT = "server.py"


class ExportError(ValueError):
    """Something the export cannot write (missing icon, bad path or URL); the message says what to do."""


# ---- where local transforms run ------------------------------------------------------------------

def _is_windows_absolute(text: str) -> bool:
    drive, rest = ntpath.splitdrive(text)
    return bool(drive) and (rest.startswith(("\\", "/")) or drive.startswith(("\\\\", "//")))


def _absolute(text: str, bare_ok: bool) -> str:
    """A path Maltego can use from any directory. Absolute paths (POSIX or Windows, whatever OS we run on)
    are kept verbatim; a bare program name is left to the PATH when `bare_ok`."""
    text = str(text).strip()
    if not text:
        raise ExportError("an empty path cannot be used for local transforms")
    if posixpath.isabs(text) or _is_windows_absolute(text) or os.path.isabs(text):
        return text
    if bare_ok and "/" not in text and "\\" not in text:
        return text
    return os.path.abspath(text)


def local_command(python: str | os.PathLike | None = None, workdir: str | os.PathLike | None = None) -> tuple[str, str]:
    """(command, working directory): this interpreter and this checkout unless overridden.
    sys.executable is kept as is (not resolved), so a virtualenv's python stays the virtualenv's."""
    return (_absolute(str(python) if python else sys.executable, bare_ok=True),
            _absolute(str(workdir) if workdir else str(CHECKOUT), bare_ok=False))


def local_parameters(name: str) -> str:
    return f"{ENTRY_SCRIPT} local {name}"


# ---- the archive ---------------------------------------------------------------------------------

def _set_descriptions(service) -> dict[str, str]:
    return {tactic_set_name(service.catalog, t.id): f"DTF tactic {t.id} {t.name}: {t.description}"
            for t in service.catalog.tactics.values()}


def _set_file(name: str) -> str:
    """A set name as a file name inside the archive ("DTF PTA0003 SSL/TLS" -> "DTF PTA0003 SSL_TLS")."""
    return re.sub(r"[^A-Za-z0-9 ._-]", "_", name)


def _sets(specs) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for spec in specs:
        grouped.setdefault(spec.set, []).append(spec.name)
    return grouped


def _icon_members(entities) -> list[tuple[str, bytes]]:
    members = []
    for entity in entities:
        for file_name in [name for name, _ in icon_files(entity.icon)] + [f"{entity.icon}.xml"]:
            path = ICON_DIR / file_name
            if not path.is_file():
                raise ExportError(f"icon file {path} is missing; run `python tools/make_icons.py` and commit the result")
            members.append((f"Icons/{ICON_CATEGORY}/{file_name}", path.read_bytes()))
    return members


def mtz_members(service, python=None, workdir=None, local_transforms: bool = True,
                now: _dt.datetime | None = None) -> list[tuple[str, bytes]]:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    specs = list(service.registry)
    entities = pack_entities(service.catalog)
    members = [("version.properties", mtz.properties_text({
        "maltego.mtz.version": "1.0", "maltego.graph.version": "1.2",
        "dtf.pack.version": tds.pack_version(), "dtf.catalog.revision": service.catalog.revision}, now))]
    members.append((f"EntityCategories/{CATEGORY.lower()}.category", mtz.category_xml(CATEGORY)))
    members += [(f"Entities/{entity.id}.entity", mtz.entity_xml(entity)) for entity in entities]
    members += _icon_members(entities)
    if local_transforms:
        command, directory = local_command(python, workdir)
        members.append(("Servers/Local.tas", mtz.local_server_xml([s.name for s in specs], now)))
        for spec in specs:
            members.append((f"TransformRepositories/Local/{spec.name}.transform", mtz.transform_xml(
                spec.name, spec.display, spec.description, spec.input, AUTHOR, spec.set, directory)))
            members.append((f"TransformRepositories/Local/{spec.name}.transformsettings",
                            mtz.transform_settings_xml(command, local_parameters(spec.name), directory)))
    descriptions = _set_descriptions(service)
    for set_name, names in _sets(specs).items():
        members.append((f"TransformSets/{_set_file(set_name)}.set", mtz.transform_set_xml(
            set_name, descriptions.get(set_name, f"DTF transforms: {set_name}"), names)))
    for machine in build_machines(service.catalog, specs):
        members.append((f"Machines/{machine.file_stem}.machine", machine.msl().encode("utf-8")))
        members.append((f"Machines/{machine.file_stem}.properties",
                        mtz.properties_text({"favorite": "false", "enabled": "true"}, now)))
    return members


def mtz_bytes(service, python=None, workdir=None) -> bytes:
    """The local-install archive (with local transforms)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return mtz.zip_bytes(mtz_members(service, python, workdir, local_transforms=True, now=now), now)


def paired_mtz_bytes(service) -> bytes:
    """The archive for a TDS seed's paired configuration: no local transforms, no paths of this machine."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return mtz.zip_bytes(mtz_members(service, local_transforms=False, now=now), now)


# ---- TDS files -----------------------------------------------------------------------------------

def _global_settings() -> list:
    from plugins.registry import global_settings
    return list(global_settings())


def transform_lines(service, base_url: str) -> list[str]:
    try:
        return tds.transform_lines(tds.rows_of(service.registry), base_url, _global_settings())
    except ValueError as exc:
        raise ExportError(str(exc)) from None


def transforms_csv(service, base_url: str) -> str:
    """All transform rows in one CSV text, header first (the split files carry the same rows)."""
    return tds.csv_text(tds.TRANSFORMS_HEADER, transform_lines(service, base_url))


def settings_csv(service) -> str:
    return tds.csv_text(tds.SETTINGS_HEADER, tds.setting_lines(list(service.registry), _global_settings()))


# ---- files ---------------------------------------------------------------------------------------

def _write(path: Path, data: bytes) -> Path:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_csv(out: Path, file_name: str, header: str, lines: list[str]) -> list[Path]:
    """The whole CSV, plus the evenly split files maltego-trx would write when it has over 100 rows."""
    stem, ext = file_name.rsplit(".", 1)
    for stale in out.glob(f"{stem}_*-*.{ext}"):
        stale.unlink()
    written = [_write(out / file_name, tds.csv_text(header, lines).encode("utf-8"))]
    chunks = tds.split_files(file_name, header, lines)
    if len(chunks) > 1:
        written += [_write(out / name, text.encode("utf-8")) for name, text in chunks.items()]
    return written


def export_all(service, out_dir, base_url: str = DEFAULT_BASE_URL, python=None, workdir=None) -> list[Path]:
    """Write both archives and the TDS CSVs into out_dir; returns the files written."""
    out = Path(out_dir)
    lines = transform_lines(service, base_url)  # validates the URL before anything is written
    archive = mtz_bytes(service, python, workdir)  # validates the paths likewise
    out.mkdir(parents=True, exist_ok=True)
    written = [_write(out / MTZ_NAME, archive), _write(out / PAIRED_MTZ_NAME, paired_mtz_bytes(service))]
    written += _write_csv(out, TRANSFORMS_CSV, tds.TRANSFORMS_HEADER, lines)
    written += _write_csv(out, SETTINGS_CSV, tds.SETTINGS_HEADER,
                          tds.setting_lines(list(service.registry), _global_settings()))
    return written
