"""The server's page: the DTF matrix, pivot/tactic/example pages and the downloads.

Browser tests load the page in Debian's headless chromium over a real socket, read what the browser
rendered, click like a user and save screenshots to tests/artifacts/. Where chromium cannot run they
skip and say why. The plain HTTP tests check status codes and content that need no layout.
"""
from __future__ import annotations

import csv
import io
import json
import re
import urllib.error
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from browser import Chromium
from dtf_catalog import default_catalog

CATALOG = default_catalog()
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LAPTOP = (1440, 900)


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def pack_available() -> bool:
    from web.pages import pack_export

    return pack_export() is not None


class Links(HTMLParser):
    """Every <a href> of a page with its text, to check links without a browser."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._open: list[str] | None = None
        self._href = ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._open = dict(attrs).get("href", ""), []

    def handle_data(self, data):
        if self._open is not None:
            self._open.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._open is not None:
            self.links.append((self._href, " ".join("".join(self._open).split())))
            self._open = None


def links_of(body: bytes) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(body.decode("utf-8"))
    return parser.links


# ---- in the browser -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    reason = Chromium.unavailable()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    chromium = Chromium(*LAPTOP)
    try:
        chromium.__enter__()
    except Exception as exc:  # noqa: BLE001 - whatever stops the start, this machine cannot run a browser
        pytest.skip(f"browser tests skipped: chromium could not be started ({exc})")
    yield chromium
    chromium.__exit__(None, None, None)


def test_matrix_shows_all_pivots_in_their_tactic_columns(browser, demo_server):
    browser.goto(f"{demo_server.url}/")
    headers = browser.evaluate("[...document.querySelectorAll('table.matrix thead th')].map(th => th.innerText.trim())")
    assert headers == [f"{t.id} {t.name}" for t in CATALOG.tactics.values()]
    cells = browser.evaluate(
        "[...document.querySelectorAll('table.matrix a[data-pivot]')].map(a => ({id: a.dataset.pivot,"
        " href: a.getAttribute('href'), text: a.innerText, column: a.closest('td').cellIndex,"
        " width: a.getBoundingClientRect().width, indent: parseFloat(getComputedStyle(a).paddingLeft)}))")
    shown = [c["id"] for c in cells]
    assert sorted(shown) == sorted(CATALOG.pivots) and len(shown) == 37
    tactic_order = list(CATALOG.tactics)
    for cell in cells:
        pivot = CATALOG.pivot(cell["id"])
        assert tactic_order[cell["column"]] == pivot.tactic, cell
        assert cell["href"] == f"/pivot/{pivot.id}"
        assert pivot.id in cell["text"] and cell["width"] > 0
    indent = {c["id"]: c["indent"] for c in cells}
    for pivot in CATALOG.pivots.values():
        if pivot.parent:  # children are visibly indented under their parent
            assert indent[pivot.id] > indent[pivot.parent], pivot.id
    # readable on a laptop: nothing overflows sideways, the revision and the downloads are on the page
    assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    text = browser.evaluate("document.body.innerText")
    assert CATALOG.revision in text
    shot = browser.screenshot(ARTIFACTS / "matrix.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(shot.read_bytes()[16:20], "big")
    assert width == LAPTOP[0]


def test_pivot_page_opens_from_its_matrix_link(browser, demo_server, demo_service):
    browser.goto(f"{demo_server.url}/")
    href = browser.evaluate("document.querySelector('table.matrix a[data-pivot=\"P0101.010\"]').getAttribute('href')")
    browser.click('table.matrix a[data-pivot="P0101.010"]')
    assert browser.evaluate("location.pathname") == href == "/pivot/P0101.010"
    pivot = CATALOG.pivot("P0101.010")
    assert browser.evaluate("document.querySelector('h1').innerText") == f"{pivot.id} {pivot.name}"
    text = browser.evaluate("document.body.innerText")
    assert pivot.description in text
    paths = browser.evaluate("[...document.querySelectorAll('table.list a[href^=\"/run/\"]')].map(a => a.getAttribute('href'))")
    assert sorted(paths) == sorted(spec.path for spec in demo_service.registry if spec.pivot == pivot.id)
    assert "dns1.regway.com" in text and "EX0001" in text  # the example that used it, with its value
    plugins = browser.evaluate("[...document.querySelectorAll('table.list tbody tr td:first-child b')].map(b => b.innerText)")
    assert [p.name for p in demo_service.plugins] == [p for p in plugins if p in {q.name for q in demo_service.plugins}]
    browser.screenshot(ARTIFACTS / "pivot.png")

    browser.click('a[href="/example/EX0001"]')  # and on to the example it links to
    assert browser.evaluate("location.pathname") == "/example/EX0001"
    assert CATALOG.example("EX0001").title in browser.evaluate("document.querySelector('h1').innerText")


def test_mtz_downloads_from_the_link_on_the_page(browser, demo_server, demo_service):
    browser.goto(f"{demo_server.url}/")
    hrefs = browser.evaluate("[...document.querySelectorAll('a[download]')].map(a => a.href)")
    assert hrefs == [f"{demo_server.url}/download/dtf-maltego.mtz", f"{demo_server.url}/download/transforms.csv",
                     f"{demo_server.url}/download/settings.csv"]
    if not pack_available():
        pytest.skip("pack/export.py (the pack writer, issue 3 parts 1-4) is not in this tree yet")
    status, content_type, body = fetch(hrefs[0])
    assert status == 200 and content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
    assert any(name.startswith("Entities/") for name in names), names[:20]
    assert any(name.startswith("TransformRepositories/") or name.startswith("TransformSets/") for name in names)

    status, content_type, body = fetch(hrefs[1])
    assert status == 200 and content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert len(rows) == len(demo_service.registry)
    urls = {row["Name"]: row["URL"] for row in rows}  # addressed to this server, as the browser reached it
    assert urls["dtfcatalogtactictopivots"] == f"{demo_server.url}/run/dtfcatalogtactictopivots"
    assert all(url.startswith(f"{demo_server.url}/run/") for url in urls.values())

    status, content_type, body = fetch(hrefs[2])
    assert status == 200 and content_type.startswith("text/csv")
    assert body.decode("utf-8").splitlines()[0].startswith("Name,Type,Display,DefaultValue,Optional,Popup")


# ---- over plain HTTP ----------------------------------------------------------------------------------

def test_every_pivot_page_lists_its_transforms(demo_server, demo_service):
    for pivot in CATALOG.pivots.values():
        status, content_type, body = fetch(f"{demo_server.url}/pivot/{pivot.id}")
        assert status == 200 and content_type.startswith("text/html"), pivot.id
        page = body.decode("utf-8")
        for spec in demo_service.registry:
            if spec.pivot == pivot.id:
                assert spec.path in page and spec.input in page, (pivot.id, spec.name)
        for child in CATALOG.children(pivot.id):
            assert (f"/pivot/{child.id}", f"{child.id} {child.name}") in links_of(body)
        for example in CATALOG.examples_using(pivot.id):
            assert f"/example/{example.id}" in page and example.source in page


def test_matrix_page_links_health_json_and_revision(demo_server):
    status, _, body = fetch(f"{demo_server.url}/")
    assert status == 200
    hrefs = {href for href, _ in links_of(body)}
    assert {"/healthz", "/transforms.json", "/download/dtf-maltego.mtz", "/download/transforms.csv",
            "/download/settings.csv"} <= hrefs
    assert {f"/tactic/{t}" for t in CATALOG.tactics} <= hrefs
    assert CATALOG.revision in body.decode("utf-8")
    status, content_type, health = fetch(f"{demo_server.url}/healthz")
    assert status == 200 and json.loads(health)["status"] == "ok"


def test_tactic_and_example_pages(demo_server):
    for tactic in CATALOG.tactics.values():
        status, _, body = fetch(f"{demo_server.url}/tactic/{tactic.id}")
        assert status == 200
        linked = {href for href, _ in links_of(body)}
        assert {f"/pivot/{p.id}" for p in CATALOG.pivots_of_tactic(tactic.id)} <= linked
    for example in CATALOG.examples.values():
        status, _, body = fetch(f"{demo_server.url}/example/{example.id.lower()}")
        assert status == 200
        page = body.decode("utf-8")
        assert {f"/pivot/{p}" for p in example.pivot_ids} <= {href for href, _ in links_of(body)}
        assert example.source.replace("&", "&amp;") in page


@pytest.mark.parametrize("path, what", [("/pivot/P0999", "pivot"), ("/pivot/<script>", "pivot"),
                                        ("/tactic/PTA0042", "tactic"), ("/example/EX0404", "example")])
def test_unknown_ids_get_a_404_page(demo_server, path, what):
    status, content_type, body = fetch(demo_server.url + urllib.request.quote(path))
    assert status == 404 and content_type.startswith("text/html")
    page = body.decode("utf-8")
    assert f"No such DTF {what}" in page
    assert "<script>" not in page  # the ID is shown escaped
    assert re.search(r'href="/"', page)


def test_downloads_say_when_the_pack_writer_is_missing_or_serve_files(demo_server):
    status, content_type, body = fetch(f"{demo_server.url}/download/settings.csv")
    if pack_available():
        assert status == 200 and content_type.startswith("text/csv")
    else:
        assert status == 503 and b"pack writer" in body
