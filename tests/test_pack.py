"""The Maltego pack: `server.py export` output unzipped and parsed, checked against the client's own exports
(../shared/fixtures/maltego), maltego-trx's TransformRegistry (byte for byte) and the transform list."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from dtf_catalog import default_catalog  # noqa: E402
from entities import definitions  # noqa: E402
from entities.types import INPUT_KIND_OF_TYPE, VALUE_PROPERTY, value_property  # noqa: E402
from pack import export, tds  # noqa: E402
from pack.machines import HABITS  # noqa: E402

BASE_URL = "http://dtf.test:8080"
WIN_PYTHON = r"C:\Program Files\DTF & Co\.venv\Scripts\python.exe"
WIN_WORKDIR = r"C:\Users\ana\dtf <main>"
ENTITY_EXTRAS = {"Converter": set(), "Value": set(), "RegexGroups": set(), "RegexGroup": {"property"}}
TRANSFORM_EXTRAS = {"defaultSets": set(), "Set": {"name"}}  # maltego-formats.md 1.5/1.7 (maltego-trx writes them)


def _cli(*args, env_extra=None, cwd=None, check=True) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    done = subprocess.run([sys.executable, str(ROOT / "server.py"), *args], capture_output=True, text=True,
                          env=env, cwd=cwd or ROOT, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return {"DTF_DB": str(tmp_path_factory.mktemp("store") / "pack.sqlite3"), "DTF_PLUGINS": "local"}


@pytest.fixture(scope="module")
def listed(env) -> list[dict]:
    return json.loads(_cli("list", "--json", env_extra=env).stdout)


@pytest.fixture(scope="module")
def dist(tmp_path_factory, env) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _cli("export", "--out", str(out), "--base-url", BASE_URL + "/", env_extra=env)
    return out


@pytest.fixture(scope="module")
def mtz(dist) -> dict[str, bytes]:
    with zipfile.ZipFile(dist / export.MTZ_NAME) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def _xml(data: bytes):
    return SafeET.fromstring(data)


def _entities(mtz) -> dict:
    return {_xml(data).get("id"): _xml(data) for name, data in mtz.items() if name.startswith("Entities/")}


# ---- files ---------------------------------------------------------------------------------------

def test_export_writes_archives_and_split_csvs(dist, listed):
    names = sorted(p.name for p in dist.iterdir())
    assert {export.MTZ_NAME, export.PAIRED_MTZ_NAME, "transforms.csv", "settings.csv"} <= set(names)
    chunks = (len(listed) + 99) // 100
    assert len(listed) > 100 and chunks >= 2
    assert [n for n in names if n.startswith("transforms_")] == [f"transforms_{i}-{chunks}.csv" for i in range(1, chunks + 1)]
    for path in dist.iterdir():
        assert path.stat().st_size > 0, path
        if os.name == "posix":
            assert path.stat().st_mode & 0o044 == 0o044, f"{path.name} must be readable by a web server"


def test_archive_layout(mtz):
    assert all("\\" not in name and not name.startswith("/") for name in mtz)
    assert _xml(mtz["EntityCategories/dtf.category"]).attrib == {"name": "DTF"}
    props = mtz["version.properties"].decode()
    assert "maltego.mtz.version=1.0" in props and props.startswith("#")
    folders = {name.split("/", 1)[0] for name in mtz}
    assert folders == {"version.properties", "EntityCategories", "Entities", "Icons", "Servers",
                       "TransformRepositories", "TransformSets", "Machines"}


def test_paired_archive_has_no_local_transforms(dist, mtz):
    with zipfile.ZipFile(dist / export.PAIRED_MTZ_NAME) as archive:
        names = set(archive.namelist())
    assert not any(n.startswith(("Servers/", "TransformRepositories/")) for n in names)
    shared = {n for n in mtz if not n.startswith(("Servers/", "TransformRepositories/"))}
    assert names == shared


def test_mtz_bytes_for_the_web_page(empty_service):
    data = export.mtz_bytes(empty_service)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        settings = _xml(archive.read("TransformRepositories/Local/dtfp0101010pivotdomain.transformsettings"))
    values = {p.get("name"): p.text for p in settings.iter("Property")}
    assert values["transform.local.command"] == sys.executable
    assert values["transform.local.working-directory"] == str(ROOT)


# ---- entities ------------------------------------------------------------------------------------

def test_every_entity_declares_its_value_property(mtz):
    entities = _entities(mtz)
    assert entities
    for entity_id, root in entities.items():
        properties = root.find("Properties")
        fields = {f.get("name"): f for f in properties.iter("Field")}
        assert properties.get("value") == value_property(entity_id), entity_id
        assert properties.get("value") in fields and properties.get("displayValue") in fields, entity_id
        assert root.get("category") == "DTF"
        assert root.get("displayName") and root.get("displayNamePlural") and root.get("description"), entity_id
        for field in fields.values():
            if field.get("type") == "int":
                int(field.findtext("SampleValue"))


def test_entities_are_the_catalogs(mtz):
    catalog = default_catalog()
    wanted = {p.value.entity for p in catalog.pivots.values() if p.value and p.value.entity.startswith("dtf.")}
    wanted |= {"dtf.PivotTactic", "dtf.Pivot", "dtf.Example", "dtf.HigmaRule"}
    assert set(_entities(mtz)) == wanted
    assert not set(_entities(mtz)) & set(definitions.STANDARD_TYPES)
    assert set(definitions.VALUE_LOOKS) <= wanted, "a look for an entity the catalog no longer has"
    for entity_id in wanted - {"dtf.PivotTactic", "dtf.Pivot", "dtf.Example", "dtf.HigmaRule"}:
        fields = {f.get("name") for f in _entities(mtz)[entity_id].iter("Field")}
        assert {"dtf.pivot", "dtf.trail"} <= fields


def _converters(mtz) -> dict[str, tuple[re.Pattern, list[str], int]]:
    found = {}
    for entity_id, root in _entities(mtz).items():
        converter = root.find("Converter")
        if converter is not None:
            groups = [g.get("property") for g in converter.iter("RegexGroup")]
            found[entity_id] = (re.compile(converter.findtext("Value")), groups, int(root.get("conversionOrder")))
    return found


def test_converters_recognise_dtf_ids_and_shaped_values(mtz):
    catalog = default_catalog()
    converters = _converters(mtz)
    for entity_id, (regex, groups, order) in converters.items():
        assert groups == [value_property(entity_id)] and regex.groups == len(groups)
        assert order < 70, "must be tried before maltego.Domain's converter, which also matches P0101.010"

    def convert(text):
        hits = sorted((order, entity_id, m.group(1)) for entity_id, (regex, _, order) in converters.items()
                      if (m := regex.match(text)))
        return [(entity_id, value) for _, entity_id, value in hits]

    for pivot_id in catalog.pivots:
        assert convert(pivot_id) == [("dtf.Pivot", pivot_id)]
    for tactic_id in catalog.tactics:
        assert convert(tactic_id) == [("dtf.PivotTactic", tactic_id)]
    for example_id in catalog.examples:
        assert convert(example_id) == [("dtf.Example", example_id)]
    assert convert("404") == [("dtf.HTTPStatus", "404")]
    assert convert(".top") == [("dtf.TLD", "top")]
    assert convert("teams-*") == [("dtf.DomainPattern", "teams-*")]
    for text in ("example.com", "P01", "EX12345", "PTA01", "1234", "hello world"):
        assert convert(text) == [], text


def test_icons_exist_in_all_sizes(mtz):
    for entity_id, root in _entities(mtz).items():
        for attribute in ("smallIconResource", "largeIconResource"):
            category, name = root.get(attribute).split("/")
            for file_name, size in definitions.icon_files(name):
                image = Image.open(io.BytesIO(mtz[f"Icons/{category}/{file_name}"]))
                assert image.format == "PNG" and image.size == (size, size), (entity_id, file_name)
                assert image.mode == "RGBA"
            aliases = _xml(mtz[f"Icons/{category}/{name}.xml"])
            assert aliases.tag == "Icon" and aliases.find("Aliases") is not None


def test_committed_icons_match_the_drawings(tmp_path):
    import make_icons

    entities = definitions.pack_entities(default_catalog())
    assert {e.glyph for e in entities} <= set(make_icons.GLYPHS)
    assert set(definitions.GLYPH_BY_KIND.values()) <= set(make_icons.GLYPHS)
    colours = {e.colour for e in entities}
    assert {t.colour for t in default_catalog().tactics.values()} <= colours, "one colour per tactic"
    written = make_icons.write_icons(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in definitions.ICON_DIR.iterdir())
    for path in written:
        if path.suffix == ".png":
            fresh, committed = Image.open(path), Image.open(definitions.ICON_DIR / path.name)
            assert fresh.size == committed.size
            diff = sum(abs(a - b) for a, b in zip(fresh.tobytes(), committed.tobytes())) / len(fresh.tobytes())
            assert diff < 2, f"{path.name} differs from its drawing; rerun tools/make_icons.py"


# ---- transforms, sets, machines ------------------------------------------------------------------

def test_every_listed_transform_is_packed_and_in_a_set(mtz, listed):
    names = {t["name"] for t in listed}
    server = _xml(mtz["Servers/Local.tas"])
    assert {t.get("name") for t in server.iter("Transform")} == names
    in_sets: dict[str, set[str]] = {}
    for name, data in mtz.items():
        if name.startswith("TransformSets/"):
            root = _xml(data)
            in_sets[root.get("name")] = {t.get("name") for t in root.iter("Transform")}
    assert set().union(*in_sets.values()) == names
    for item in listed:
        assert item["name"] in in_sets[item["set"]]
        transform = _xml(mtz[f"TransformRepositories/Local/{item['name']}.transform"])
        assert transform.get("name") == item["name"] and transform.get("displayName") == item["display"]
        assert [e.get("type") for e in transform.iter("Entity")] == [item["input"]]
        assert [s.get("name") for s in transform.iter("Set")] == [item["set"]]
        settings = _xml(mtz[f"TransformRepositories/Local/{item['name']}.transformsettings"])
        values = {p.get("name"): p.text for p in settings.iter("Property")}
        assert values["transform.local.parameters"] == f"server.py local {item['name']}"
        assert values["transform.local.command"] == sys.executable
        assert values["transform.local.working-directory"] == str(ROOT)
    catalog = default_catalog()
    for tactic in catalog.tactics.values():
        assert any(tactic.id in set_name for set_name in in_sets), tactic.id


def _standard_types(shared_dir: Path) -> set[str]:
    """Type ids from the standard-entity table (section 2) of maltego-formats.md, plus entities/types.py."""
    text = (shared_dir / "reference" / "maltego-formats.md").read_text(encoding="utf-8")
    section = text.split("## 2.", 1)[1].split("\n## 3.", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| maltego.")]
    found = {t for cell in rows for t in re.findall(r"maltego\.[A-Za-z0-9.]*[A-Za-z0-9]", cell)}
    assert "maltego.Domain" in found and "maltego.X509Certificate" in found
    return found | set(VALUE_PROPERTY) | set(INPUT_KIND_OF_TYPE)


def test_inputs_are_standard_or_defined_in_the_pack(mtz, listed, shared_dir):
    known = _standard_types(shared_dir) | set(_entities(mtz))
    for item in listed:
        assert item["input"] in known, item["name"]
        for output in item["outputs"]:
            assert output in known, (item["name"], output)
    assert set(definitions.STANDARD_TYPES) <= _standard_types(shared_dir)


def _msl_calls(msl: str) -> tuple[list[str], set[str]]:
    code = "\n".join(line.split("//", 1)[0] for line in msl.splitlines())
    statements = re.sub(r'"(?:[^"\\]|\\.)*"', '""', code)  # keywords outside string literals
    return re.findall(r'run\("([^"]+)"', code), set(re.findall(r"\b([A-Za-z]+)\s*[({]", statements))


def test_machines_run_packed_transforms(mtz, listed, shared_dir):
    by_name = {t["name"]: t for t in listed}
    machines = {n: d.decode() for n, d in mtz.items() if n.endswith(".machine")}
    sample_words = _msl_calls((shared_dir / "fixtures/maltego/misp_MISPDomain.machine").read_text())[1]
    documented = {"path", "userFilter"}  # dev.paterva.com machines guide: serial paths and user filters
    catalog = default_catalog()
    sweeps = {}
    for name, msl in machines.items():
        assert msl.count("{") == msl.count("}") and msl.count("(") == msl.count(")"), name
        runs, words = _msl_calls(msl)
        assert runs and set(runs) <= set(by_name), name
        assert words <= sample_words | documented, (name, words - sample_words)
        header = re.search(r'machine\("([^"]+)",\s*displayName:"[^"]+",\s*author:"[^"]*",\s*description:"[^"]+"\)', msl)
        assert header, name
        assert f"{mtz[name.replace('.machine', '.properties')].decode()}".rstrip().endswith("enabled=true")
        sweeps[header.group(1)] = runs
    for tactic in catalog.tactics.values():
        runs = sweeps[f"dtf.Sweep{tactic.id}"]
        assert all(by_name[r]["kind"] == "extract" and catalog.pivot(by_name[r]["pivot"]).tactic == tactic.id
                   for r in runs)
        inputs = {t for p in catalog.pivots_of_tactic(tactic.id) for t in
                  (by_name[r]["input"] for r in runs)}
        tactic_inputs = {t["input"] for t in listed if t["kind"] == "extract" and t["pivot"]
                         and catalog.pivot(t["pivot"]).tactic == tactic.id}
        assert inputs == tactic_inputs
    for habit in HABITS:
        for pivot_id in habit.pivots:
            used = {p for e in habit.examples for p in catalog.example(e).pivot_ids}
            assert pivot_id in used or catalog.pivot(pivot_id).parent in used, (habit.key, pivot_id)
        runs = [r for key, r in sweeps.items() if key.startswith(f"dtf.{habit.key}")]
        assert len(runs) == len(habit.inputs)
        for machine_runs in runs:
            assert {by_name[r]["pivot"] for r in machine_runs} == set(habit.pivots)
            assert {by_name[r]["kind"] for r in machine_runs} == {"extract", "expand"}


# ---- element and attribute names against the client's exports ------------------------------------

def _shape(root) -> dict[str, set[str]]:
    shape: dict[str, set[str]] = {}
    for element in root.iter():
        shape.setdefault(element.tag, set()).update(element.attrib)
    return shape


def _doc_sample(shared_dir: Path, root_tag: str) -> bytes:
    """A client-exported XML sample quoted in maltego-formats.md (Local.tas, .set)."""
    text = (shared_dir / "reference" / "maltego-formats.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```xml\n(.*?)```", text, re.S) if b.lstrip().startswith(f"<{root_tag} "))
    return block.encode()


@pytest.mark.parametrize("suffix, sample, extras", [
    (".entity", "misp.MISPGalaxy.entity", ENTITY_EXTRAS),
    (".transform", "greynoise.GreyNoiseIPContext.transform", TRANSFORM_EXTRAS),
    (".transformsettings", "greynoise.GreyNoiseIPContext.transformsettings", {}),
    (".tas", "doc:MaltegoServer", {}),
    (".set", "doc:TransformSet", {}),
])
def test_xml_names_match_client_exports(mtz, shared_dir, suffix, sample, extras):
    if sample.startswith("doc:"):
        reference = _xml(_doc_sample(shared_dir, sample[4:]))
    else:
        reference = _xml((shared_dir / "fixtures" / "maltego" / sample).read_bytes())
    expected = _shape(reference)
    ours = [(n, _xml(d)) for n, d in mtz.items() if n.endswith(suffix)]
    assert ours
    for name, root in ours:
        assert root.tag == reference.tag, name
        for tag, attributes in _shape(root).items():
            if tag in expected:
                assert attributes == expected[tag], (name, tag, attributes ^ expected[tag])
            else:
                assert tag in extras and attributes == extras[tag], (name, tag)


# ---- local transforms: paths and the command Maltego runs ----------------------------------------

@pytest.mark.parametrize("name, value, expect", [
    ("dtfp0102001extractdomain", "shop.example.top", {("dtf.TLD", "top")}),
    ("dtfcatalogphrasetoentity", "P0101.010 PTA0001 EX0001",
     {("dtf.Pivot", "P0101.010"), ("dtf.PivotTactic", "PTA0001"), ("dtf.Example", "EX0001")}),
])
def test_local_transform_runs_as_maltego_would(mtz, env, listed, name, value, expect):
    """The command line from the .transformsettings, run the way the client runs it; what comes back uses
    only properties our entity definitions declare."""
    if name not in {t["name"] for t in listed}:
        pytest.skip(f"{name} is not registered in this tree")
    settings = _xml(mtz[f"TransformRepositories/Local/{name}.transformsettings"])
    values = {p.get("name"): p.text for p in settings.iter("Property")}
    command = [values["transform.local.command"], *values["transform.local.parameters"].split(), value]
    done = subprocess.run(command, cwd=values["transform.local.working-directory"], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=60)
    assert done.returncode == 0, done.stderr
    entities = list(_xml(done.stdout.encode()).iter("Entity"))
    assert {(e.get("Type"), e.findtext("Value")) for e in entities} == expect
    defined = _entities(mtz)
    for entity in entities:
        declared = {f.get("name") for f in defined[entity.get("Type")].iter("Field")}
        returned = {f.get("Name") for f in entity.iter("Field") if not f.get("Name").startswith("link#")}
        assert returned <= declared, (entity.get("Type"), returned - declared)


def test_windows_paths_are_written_verbatim(tmp_path, env):
    _cli("export", "--out", str(tmp_path), "--python", WIN_PYTHON, "--workdir", WIN_WORKDIR, env_extra=env)
    with zipfile.ZipFile(tmp_path / export.MTZ_NAME) as archive:
        raw = archive.read("TransformRepositories/Local/dtfp0101001expand.transformsettings")
        definition = _xml(archive.read("TransformRepositories/Local/dtfp0101001expand.transform"))
    values = {p.get("name"): p.text for p in _xml(raw).iter("Property")}
    assert values["transform.local.command"] == WIN_PYTHON
    assert values["transform.local.working-directory"] == WIN_WORKDIR
    assert b"DTF &amp; Co" in raw and b"dtf &lt;main&gt;" in raw
    assert definition.find(".//DefaultValue").text == WIN_WORKDIR


def test_path_rules():
    unc = r"\\fileserver\tools\python.exe"
    assert export.local_command(unc, r"D:\dtf") == (unc, r"D:\dtf")
    assert export.local_command("python3", "/opt/dtf") == ("python3", "/opt/dtf")
    command, workdir = export.local_command(".venv/bin/python", "checkout")
    assert command == os.path.abspath(".venv/bin/python") and workdir == os.path.abspath("checkout")
    with pytest.raises(export.ExportError):
        export.local_command("  ", None)


# ---- TDS CSVs ------------------------------------------------------------------------------------

def _trx_registry(service, tmp_path):
    """maltego-trx's own TransformRegistry fed the same transforms, writing its CSVs."""
    from maltego_trx.decorator_registry import TransformRegistry, TransformSet, TransformSetting
    from plugins.registry import global_settings

    def trx_setting(s):
        return TransformSetting(s.name, tds.clean_text(s.display), s.type, tds.clean_text(s.default or ""),
                                s.optional, s.popup, s.global_setting)

    registry = TransformRegistry(owner=tds.OWNER, author=tds.AUTHOR, host_url=BASE_URL, seed_ids=[tds.SEED_ID],
                                 version=tds.pack_version(), global_settings=[trx_setting(s) for s in global_settings()])
    for spec in service.registry:
        registry.register_transform(
            display_name=tds.clean_text(spec.display), input_entity=spec.input,
            description=tds.clean_text(spec.description), settings=[trx_setting(s) for s in spec.settings] or None,
            output_entities=list(spec.outputs), transform_set=TransformSet(spec.set, spec.set),
        )(type(spec.name, (), {}))
    out = tmp_path / "trx"
    out.mkdir()
    registry.write_transforms_config(str(out / "transforms.csv"))
    registry.write_settings_config(str(out / "settings.csv"))
    return out


def test_csvs_match_maltego_trx_byte_for_byte(dist, empty_service, tmp_path, listed):
    assert [s.name for s in empty_service.registry] == [t["name"] for t in listed]
    trx = _trx_registry(empty_service, tmp_path)
    trx_files = sorted(p.name for p in trx.iterdir())
    ours = sorted(p.name for p in dist.iterdir() if p.suffix == ".csv" and p.name != "transforms.csv")
    assert trx_files == ours, "same split into files"
    for name in trx_files:
        assert (dist / name).read_bytes() == (trx / name).read_bytes(), name
    chunks = sorted(trx.glob("transforms_*-*.csv"))
    rows = [line for path in chunks for line in path.read_text().splitlines()[1:]]
    assert (dist / "transforms.csv").read_text() == tds.TRANSFORMS_HEADER + "\n" + "".join(r + "\n" for r in rows)
    assert export.transforms_csv(empty_service, BASE_URL) == (dist / "transforms.csv").read_text()
    assert export.settings_csv(empty_service) == (dist / "settings.csv").read_text()


def test_csv_rows(dist, listed):
    with open(dist / "transforms.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["Name"] for r in rows] == [t["name"] for t in listed]
    by_name = {t["name"]: t for t in listed}
    for row in rows:
        item = by_name[row["Name"]]
        assert re.fullmatch(r"[a-z0-9]+", row["Name"])
        assert row["URL"] == f"{BASE_URL}/run/{row['Name']}"
        assert row["entityName"] == item["input"] and row["outputEntities"].split(";") == item["outputs"]
        assert row["UIName"] == item["display"] and row["seedIDs"] == tds.SEED_ID
        assert [s for s in row["transformSettingIDs"].split(";") if s and not s.startswith("global#")] == item["settings"]
    assert any('"' in line for line in (dist / "transforms.csv").read_text().splitlines()), "commas get quoted"
    with open(dist / "settings.csv", newline="", encoding="utf-8") as handle:
        settings = {r["Name"]: r for r in csv.DictReader(handle)}
    assert {s for t in listed for s in t["settings"]} <= set(settings)
    from plugins.registry import global_settings
    assert {s.id for s in global_settings()} <= set(settings)


@pytest.mark.parametrize("count", [1, 100, 101, 250])
def test_split_like_maltego_trx(tmp_path, count):
    from maltego_trx.utils import export_as_csv

    lines = [f"row{i},x" for i in range(count)]
    export_as_csv(tds.SETTINGS_HEADER, tuple(lines), str(tmp_path / "t.csv"), 100)
    expected = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert tds.split_files("t.csv", tds.SETTINGS_HEADER, lines) == expected


def test_clean_text_keeps_the_csv_parseable():
    assert tds.clean_text('say "hi",\n  twice') == "say 'hi', twice"


def test_bad_base_url_is_refused_and_writes_nothing(tmp_path, env):
    out = tmp_path / "out"
    done = _cli("export", "--out", str(out), "--base-url", "ftp://dtf.test", env_extra=env, check=False)
    assert done.returncode == 2 and "base URL" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    assert tds.normalize_base_url("https://dtf.example.org/prefix/") == "https://dtf.example.org/prefix"


def test_a_new_catalog_value_entity_gets_a_full_definition(tmp_path):
    """Adding a pivot to catalog.yaml is enough: its dtf.* value entity is defined with a kind-based glyph."""
    import yaml

    from dtf_catalog.loader import CATALOG_PATH, load

    data = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    data["pivots"].append({"id": "P0401.008", "name": "HTTP: Banner Hash", "label": "Banner Hash",
                           "tactic": "PTA0004", "parent": "P0401", "has_page": False,
                           "description": "A hash of the server banner.", "inputs": ["domain"],
                           "value": {"kind": "hash", "entity": "dtf.BannerHash"}, "outputs": ["domain"]})
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    catalog = load(path)
    entity = next(e for e in definitions.value_entities(catalog) if e.id == "dtf.BannerHash")
    assert (entity.display, entity.plural, entity.glyph, entity.icon) == (
        "Banner Hash", "Banner Hashes", "document", "dtf_bannerhash")
    assert entity.colour == catalog.tactic("PTA0004").colour
    assert entity.value_field.name == "dtf.bannerhash" and "P0401.008" in entity.description
