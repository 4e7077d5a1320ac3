"""The catalog against DTF itself: every tactic, pivot and example of the pinned revision, and a
loader that refuses a broken catalog with a message naming the entry at fault."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dtf_catalog import CatalogError, UnknownPivot, default_catalog, load
from dtf_catalog.loader import CATALOG_PATH

PIVOT_IN_MATRIX = re.compile(r"\[?(P\d{4}(?:\.\d{3})?)\]?(?:\([^)]*\))?\s+-\s+([^<|]+?)\s*(?:<br>|\|)")
TACTIC_IN_MATRIX = re.compile(r"\[(PTA\d{4})\]\([^)]*\)\s*\|\s*([^|]+?)\s*\|")


@pytest.fixture(scope="module")
def dtf_dir(shared_dir) -> Path:
    return shared_dir / "reference" / "dtf"


@pytest.fixture(scope="module")
def matrix(dtf_dir) -> str:
    return (dtf_dir / "matrix.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def catalog():
    return default_catalog()


def test_catalog_holds_exactly_the_matrix_pivots_with_their_names(catalog, matrix):
    in_matrix = dict(PIVOT_IN_MATRIX.findall(matrix))
    assert len(in_matrix) == 37
    assert set(catalog.pivots) == set(in_matrix)
    for ident, name in in_matrix.items():
        assert catalog.pivot(ident).name == name.strip(), ident


def test_four_tactics_named_as_in_dtf(catalog, matrix, dtf_dir):
    in_matrix = dict(TACTIC_IN_MATRIX.findall(matrix))
    assert set(catalog.tactics) == set(in_matrix) == {"PTA0001", "PTA0002", "PTA0003", "PTA0004"}
    for ident, tactic in catalog.tactics.items():
        page_title = (dtf_dir / "pivot-tactics" / ident / "main.md").read_text().splitlines()[0]
        assert tactic.name in (in_matrix[ident], page_title.split(":", 1)[1].strip()), ident
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", tactic.colour)
    assert len({t.colour for t in catalog.tactics.values()}) == 4, "one link colour per tactic"


def test_pivots_sit_under_the_tactic_and_parent_their_id_says(catalog):
    for pivot in catalog.pivots.values():
        assert pivot.tactic == f"PTA000{pivot.id[2]}", pivot.id
        expected_parent = pivot.id.split(".")[0] if "." in pivot.id else None
        assert pivot.parent == expected_parent, pivot.id
    assert {p.id for p in catalog.children("P0203")} == {"P0203.001", "P0203.002", "P0203.003"}
    assert {p.id for p in catalog.leaves("P0101")} == {
        "P0101.001", "P0101.002", "P0101.003", "P0101.004", "P0101.010", "P0101.011"}


def test_has_page_matches_the_pages_dtf_ships(catalog, dtf_dir):
    with_page = {p.stem for p in (dtf_dir / "pivots").glob("P*.md")}
    assert {p.id for p in catalog.pivots.values() if p.has_page} == with_page
    assert {p.id for p in catalog.pivots.values() if not p.has_page} == {
        "P0103.003", "P0103.004", "P0103.005", "P0103.006", "P0103.007",
        "P0203.001", "P0203.002", "P0203.003", "P0303"}


def test_every_pivot_says_what_the_code_needs(catalog):
    for pivot in catalog.pivots.values():
        assert pivot.description and pivot.label and pivot.inputs and pivot.outputs, pivot.id
        if pivot.value is None:
            assert catalog.children(pivot.id), f"{pivot.id} has no value and no children"
        else:
            assert pivot.value.entity.startswith(("maltego.", "dtf.")), pivot.id
    assert catalog.resolution_pivot().id == "P0103.003"


def test_seventeen_examples_with_the_pivots_dtf_lists(catalog, dtf_dir):
    assert sorted(catalog.examples) == [f"EX{n:04d}" for n in range(1, 18)]
    for ident, example in catalog.examples.items():
        page = (dtf_dir / "examples" / f"{ident}.md").read_text(encoding="utf-8")
        techniques = page.split("## Pivot Techniques", 1)[1].split("\n## ", 1)[0]
        listed = set(re.findall(r"\b(P\d{4}(?:\.\d{3})?)\b", techniques))
        assert set(example.pivot_ids) == listed, ident
        assert example.source.startswith("http"), ident
    assert {e.id for e in catalog.examples_using("P0101.010")} >= {"EX0001"}
    values = {item.value for e in catalog.examples.values() for g in e.groups for item in g.pivots}
    assert {"dns1.regway.com", "AS202015", "getIPAddres"} <= {str(v) for v in values}


def test_pinned_to_the_dtf_revision(catalog):
    assert catalog.revision == "b6d34da"
    assert "defenders-threatmesh-framework" in catalog.repository


@pytest.mark.parametrize("lookup", ["pivot", "children", "leaves", "examples_using"])
def test_unknown_pivot_lookups_name_the_id(catalog, lookup):
    with pytest.raises(UnknownPivot) as caught:
        getattr(catalog, lookup)("P0999.123")
    assert "P0999.123" in str(caught.value)
    assert caught.value.ident == "P0999.123"


def test_unknown_tactic_and_example_are_named(catalog):
    with pytest.raises(UnknownPivot, match="PTA0009"):
        catalog.tactic("PTA0009")
    with pytest.raises(UnknownPivot, match="EX0999"):
        catalog.example("EX0999")


# ---- a broken copy of the catalog ---------------------------------------------------------------

def _raw() -> dict:
    return yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))


def _pivot_entry(data: dict, ident: str) -> dict:
    return next(p for p in data["pivots"] if p["id"] == ident)


def _bad_id(data):
    _pivot_entry(data, "P0101.004")["id"] = "P101.4"
    return "P101.4"


def _missing_parent(data):
    _pivot_entry(data, "P0101.003")["parent"] = "P0109"
    return "P0109"


def _example_unknown_pivot(data):
    data["examples"][4]["groups"][0]["pivots"][0]["pivot"] = "P0999"
    return data["examples"][4]["id"] + ".*P0999"


def _duplicate_pivot(data):
    data["pivots"].append(dict(_pivot_entry(data, "P0302")))
    return "duplicate pivot ID P0302"


def _duplicate_example(data):
    data["examples"].append(dict(data["examples"][0]))
    return "duplicate example ID EX0001"


def _unknown_tactic(data):
    _pivot_entry(data, "P0301")["tactic"] = "PTA0007"
    return "P0301.*PTA0007"


def _bad_match_rule(data):
    _pivot_entry(data, "P0202")["match"] = "nearby"
    return "P0202.*nearby"


def _missing_revision(data):
    del data["dtf"]["revision"]
    return "revision"


def _bad_input_kind(data):
    _pivot_entry(data, "P0401.007")["inputs"] = ["domain", "phone"]
    return "P0401.007.*phone"


@pytest.mark.parametrize("breakage", [_bad_id, _missing_parent, _example_unknown_pivot, _duplicate_pivot,
                                      _duplicate_example, _unknown_tactic, _bad_match_rule, _missing_revision,
                                      _bad_input_kind])
def test_broken_catalog_is_refused_naming_the_entry(tmp_path, breakage):
    data = _raw()
    expected = breakage(data)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogError, match=expected):
        load(path)


def test_unbroken_copy_loads_the_same(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(_raw(), sort_keys=False), encoding="utf-8")
    copy = load(path)
    assert set(copy.pivots) == set(default_catalog().pivots)
    assert len(copy.examples) == 17


def test_catalog_that_is_not_yaml_is_refused(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("pivots: [unclosed\n  - {id: ", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load(path)
