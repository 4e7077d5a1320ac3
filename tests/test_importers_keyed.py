"""`python server.py import urlscan|shodan|securitytrails FILE...` loads saved API answers; the pivots
then answer from the store alone (only the local plugin, through the Flask app over a socket)."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api_replay import FIXTURES, keyed_service, serving, transform_name
from support import run_transform

ROOT = Path(__file__).resolve().parent.parent


def import_files(store: Path, fmt: str, *relative: str) -> str:
    env = {**os.environ, "DTF_DB": str(store), "DTF_PLUGINS": "local"}
    done = subprocess.run([sys.executable, "server.py", "import", fmt, *(str(FIXTURES / r) for r in relative)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    store = tmp_path_factory.mktemp("keyed-import") / "store.sqlite3"
    summaries = {
        "urlscan": import_files(store, "urlscan", "urlscan/search_page-domain-example-com_date-range_2023-09.json",
                                "urlscan/result_7f0aa2ab-www-wikipedia-org_2019-07.json"),
        "shodan": import_files(store, "shodan", "shodan/host-search_query-ip-1.1.1.1_minify-true_2023-03.json"),
        "securitytrails": import_files(store, "securitytrails",
                                       "securitytrails/domains-list_filter-ipv4-1.1.1.1_page1_2019-10.json",
                                       "securitytrails/domain-whois_github-com_2019-10.json"),
    }
    service = keyed_service(store, [], with_local=True)
    with serving(service) as server:
        yield summaries, service, server


def run(loaded, kind, pivot, entity_type, value, soft=200):
    _, service, server = loaded
    return run_transform(server.url, transform_name(service, kind, pivot, entity_type), entity_type, value,
                         soft=soft, hard=10000)


def test_every_record_of_the_fixtures_is_accepted(loaded):
    summaries, service, _ = loaded
    for fmt, summary in summaries.items():
        assert summary.startswith("read ") and "rejected 0" in summary, (fmt, summary)
    assert [p.name for p in service.plugins] == ["local"]


def test_urlscan_titles_status_and_hashes_answer_from_the_store(loaded):
    titled = run(loaded, "expand", "P0401.001", "maltego.WebTitle", "Example Domain")
    assert {"https://example.com/", "https://www.example.com/"} <= titled.values()
    assert {e.link["dtf.sources"] for e in titled.entities} == {"urlscan"}
    hashed = run(loaded, "expand", "P0401.004", "maltego.Hash",
                 "e07a8c83dc61904ea2467dab8c33183e5ef7361e877b927fa716b8bb7d0f554c")
    assert "https://www.wikipedia.org/" in hashed.values()
    named = run(loaded, "expand", "P0401.006", "dtf.ResourceName", "Wikipedia-logo-v2.png")
    assert "https://www.wikipedia.org/" in named.values()
    asn = run(loaded, "expand", "P0203", "maltego.AS", "AS14907")
    assert "91.198.174.192" in asn.values()


def test_shodan_certificate_and_favicon_values_answer_from_the_store(loaded):
    issuer = run(loaded, "expand", "P0301", "dtf.CertIssuerOrg", "DigiCert Inc")
    # the address carries it; names resolving there (Shodan's hostname, SecurityTrails' list) share it
    assert "one.one.one.one" in issuer.values() and "udemy.com" in issuer.values()
    favicon = run(loaded, "expand", "P0401.004", "maltego.Hash", "1456990795")
    assert "one.one.one.one" in favicon.values()
    san = run(loaded, "extract", "P0302", "maltego.Domain", "one.one.one.one")
    assert san.values() == {"cloudflare-dns.com", "one.one.one.one"}


def test_securitytrails_lists_and_whois_answer_from_the_store(loaded):
    reverse = run(loaded, "pivot", "P0201", "maltego.IPv4Address", "1.1.1.1")
    assert {"udemy.com", "contaboserver.net", "one.one.one.one"} <= reverse.values()
    registrar = run(loaded, "expand", "P0101.001", "dtf.Registrar", "MarkMonitor, Inc.")
    assert "github.com" in registrar.values()
    created = run(loaded, "expand", "P0101.002", "dtf.RegistrationDate", "2009-08-13")   # epoch ms in the list
    assert "udemy.com" in created.values()
    servers = run(loaded, "extract", "P0101.010", "maltego.Domain", "github.com")
    assert "ns-1707.awsdns-21.co.uk" in servers.values()


def test_shodan_download_files_gzip_json_lines_are_read(tmp_path):
    banners = json.loads((FIXTURES / "shodan/host-search_query-ip-1.1.1.1_minify-true_2023-03.json").read_text())["matches"]
    download = tmp_path / "download.json.gz"
    with gzip.open(download, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(b) for b in banners) + "\n")
    store = tmp_path / "store.sqlite3"
    env = {**os.environ, "DTF_DB": str(store), "DTF_PLUGINS": "local"}
    done = subprocess.run([sys.executable, "server.py", "import", "shodan", str(download), "--json"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rejected"] == 0 and summary["added"] > 0 and summary["read"] > len(banners)


def test_a_file_that_is_no_export_is_rejected_with_a_reason(tmp_path):
    store = tmp_path / "store.sqlite3"
    env = {**os.environ, "DTF_DB": str(store), "DTF_PLUGINS": "local"}
    bad = tmp_path / "error.json"
    bad.write_text('{"error": "Invalid API key"}', encoding="utf-8")
    done = subprocess.run([sys.executable, "server.py", "import", "shodan", str(bad)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "neither a host search answer" in done.stderr and "rejected 1" in done.stdout
