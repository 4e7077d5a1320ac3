"""The tls plugin against a real TLS server on 127.0.0.1 with certificates made for the test (trustme)."""
from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
import threading
import time

import pytest
import trustme

from dns_server import DnsTestServer, Zone
from dtf_catalog import default_catalog
from plugins.base import Context, PluginError, Subject
from plugins.local import LocalPlugin
from plugins.tls import TlsPlugin
from store import Store
from support import ServerThread, run_transform

CATALOG = default_catalog()
ISSUER_ORG = "Loopback Test Issuers Ltd"
NOT_BEFORE = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)


class TlsTestServer:
    """Presents one certificate by default and another when the client's SNI asks for `other.test`."""

    def __init__(self, default: trustme.LeafCert, by_name: dict[str, trustme.LeafCert], handshake: bool = True):
        self.contexts = {name: self._context(cert) for name, cert in by_name.items()}
        self.default = self._context(default)
        self.default.sni_callback = self._pick
        self.handshake = handshake
        self.server_names: list[str | None] = []
        self.accepted = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _context(cert: trustme.LeafCert) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        return context

    def _pick(self, connection, name, _context):
        self.server_names.append(name)
        if name in self.contexts:
            connection.context = self.contexts[name]

    def _serve(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if not self.handshake:      # accept and say nothing: a stalled server
                self._open.append(client)
                continue
            try:
                with self.default.wrap_socket(client, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    def close(self):
        self.sock.close()
        for client in self._open:
            client.close()


@pytest.fixture(scope="module")
def certificates():
    ca = trustme.CA(organization_name=ISSUER_ORG)
    main = ca.issue_cert("tls.test", "www.tls.test", "*.cdn.tls.test", "127.0.0.1", not_before=NOT_BEFORE)
    other = ca.issue_cert("other.test", "mail.other.test", not_before=NOT_BEFORE + dt.timedelta(days=30))
    return main, other


@pytest.fixture(scope="module")
def tls_server(certificates):
    main, other = certificates
    server = TlsTestServer(main, {"other.test": other})
    yield server
    server.close()


@pytest.fixture(scope="module")
def resolver():
    zone = Zone().add("tls.test", "A", "127.0.0.1").add("other.test", "A", "127.0.0.1")
    zone.add("lan.test", "A", "10.1.2.3").add("meta.test", "A", "169.254.169.254")
    with DnsTestServer(zone) as server:
        yield server


def plugin_for(tls_port, resolver, **settings) -> TlsPlugin:
    base = {"port": tls_port, "dns_servers": "127.0.0.1", "dns_port": resolver.port, "allow_reserved": "true",
            "allow_loopback": "true", "timeout": 2}
    base.update(settings)
    return TlsPlugin(CATALOG, base)


def sha256_of(cert: trustme.LeafCert) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())).hexdigest()


def extract(plugin, pivot_id, name, deadline=5.0):
    return plugin.extract(CATALOG.pivot(pivot_id), Subject("domain", name), Context(deadline=time.monotonic() + deadline))


def split(findings):
    values = sorted(f.value for f in findings if not f.shown_as)
    companions = [(f.shown_as, f.value) for f in findings if f.shown_as]
    return values, companions


# ---- what the certificate says ---------------------------------------------------------------------------

def test_issuer_organisation_with_the_fingerprint(tls_server, resolver, certificates):
    values, companions = split(extract(plugin_for(tls_server.port, resolver), "P0301", "tls.test"))
    assert values == [ISSUER_ORG]
    assert companions == [("hash", sha256_of(certificates[0]))]


def test_san_names(tls_server, resolver):
    values, _ = split(extract(plugin_for(tls_server.port, resolver), "P0302", "tls.test"))
    assert values == ["cdn.tls.test", "tls.test", "www.tls.test"]     # wildcard as its base, IP SAN left out


def test_not_before_date(tls_server, resolver):
    values, _ = split(extract(plugin_for(tls_server.port, resolver), "P0303", "tls.test"))
    assert values == [NOT_BEFORE.date().isoformat()]


def test_sni_selects_the_certificate(tls_server, resolver, certificates):
    findings = extract(plugin_for(tls_server.port, resolver), "P0302", "other.test")
    values, companions = split(findings)
    assert values == ["mail.other.test", "other.test"]
    assert companions == [("hash", sha256_of(certificates[1]))]
    assert "other.test" in tls_server.server_names


# ---- guards and failures ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, word", [("tls.test", "loopback"), ("lan.test", "private"), ("meta.test", "metadata")])
def test_non_public_addresses_are_refused_by_default(tls_server, resolver, name, word):
    before = tls_server.accepted
    with pytest.raises(PluginError, match=word):
        extract(plugin_for(tls_server.port, resolver, allow_loopback="false"), "P0301", name)
    assert tls_server.accepted == before


def test_reserved_names_are_not_looked_up_without_permission(tls_server, resolver):
    before = resolver.count()
    assert extract(plugin_for(tls_server.port, resolver, allow_reserved="false"), "P0301", "tls.test") == []
    assert resolver.count() == before


def test_name_without_address_gives_no_findings(tls_server, resolver):
    assert extract(plugin_for(tls_server.port, resolver), "P0301", "missing.test") == []


def test_nothing_listening_is_a_clear_error(resolver):
    with socket.create_server(("127.0.0.1", 0)) as spare:
        closed_port = spare.getsockname()[1]
    with pytest.raises(PluginError, match="refused the connection"):
        extract(plugin_for(closed_port, resolver), "P0301", "tls.test")


def test_stalled_handshake_ends_within_the_deadline(resolver, certificates):
    stalled = TlsTestServer(certificates[0], {}, handshake=False)
    try:
        started = time.monotonic()
        with pytest.raises(PluginError, match="timed out"):
            extract(plugin_for(stalled.port, resolver, timeout=10), "P0301", "tls.test", deadline=1.0)
        assert time.monotonic() - started < 1.6
    finally:
        stalled.close()


# ---- through the app: the Hash entity, and write-through without it ---------------------------------------

def test_san_extract_through_the_app_then_from_the_store(tmp_path, tls_server, resolver, certificates):
    from transforms.service import Service
    from web.app import create_app

    store_path = tmp_path / "store.sqlite3"
    live = Service(store_path, CATALOG, plugins=[LocalPlugin(Store(store_path), CATALOG),
                                                  plugin_for(tls_server.port, resolver)])
    with ServerThread(create_app(live)) as web:
        answer = run_transform(web.url, "dtfp0302extractdomain", "maltego.Domain", "tls.test")
    by_type = {}
    for entity in answer.entities:
        by_type.setdefault(entity.type, set()).add(entity.value)
    assert by_type == {"maltego.DNSName": {"cdn.tls.test", "tls.test", "www.tls.test"},
                       "maltego.Hash": {sha256_of(certificates[0])}}
    offline = Service(store_path, CATALOG, plugins=[LocalPlugin(Store(store_path), CATALOG)])
    with ServerThread(create_app(offline)) as web:
        again = run_transform(web.url, "dtfp0302extractdomain", "maltego.Domain", "tls.test")
    assert {(e.type, e.value) for e in again.entities} == {("maltego.DNSName", v) for v in by_type["maltego.DNSName"]}
    assert {e.link["dtf.sources"] for e in again.entities} == {"tls"}
