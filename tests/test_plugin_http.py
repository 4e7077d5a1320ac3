"""The http plugin and its guard against pages made for the test, served on 127.0.0.1.

Host names resolve through a scripted DNS server on loopback (the plugin's `dns_servers`
setting), so redirects to named hosts and DNS rebinding are exercised with real look-ups and
nothing leaves the machine.
"""
from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import ppdeep
import pytest

from dtf_catalog import default_catalog
from http_replay import ReplayServer, Route
from plugins.base import Context, PluginError, PluginSkipped, Subject
from plugins.http import HttpPlugin
from plugins.http_fetch import Fetcher, FetchPolicy, FetchRefused
from plugins.netguard import Guard, refusal_reason
from plugins.registry import PluginConfig, build_plugins
from store import Store
from support import ServerThread, run_transform

CATALOG = default_catalog()
FAVICON = b"\x00\x00\x01\x00\x01\x00\x10\x10" + bytes(range(256)) * 3   # binary, several base64 lines
CSS, APP_JS, KIT_CSS, LOADER_JS, LOGO = b"body{color:#123}", b"console.log(1)", b".kit{}", b"load()", b"\x89PNG-logo"


class ScriptedDns:
    """UDP DNS on 127.0.0.1: each name answers A queries from its list in turn (the last repeats)."""

    def __init__(self, script: dict[str, list[str]]):
        self.script = {name: list(addresses) for name, addresses in script.items()}
        self.asked: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def a_queries(self, name: str) -> int:
        return sum(1 for asked, kind in self.asked if asked == name and kind == "A")

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, client = self.sock.recvfrom(4096)
            except OSError:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            kind = dns.rdatatype.to_text(question.rdtype)
            self.asked.append((name, kind))
            response = dns.message.make_response(query)
            addresses = self.script.get(name)
            if addresses is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif kind == "A":
                address = addresses.pop(0) if len(addresses) > 1 else addresses[0]
                response.answer.append(dns.rrset.from_text(question.name, 0, "IN", "A", address))
            self.sock.sendto(response.to_wire(), client)


def page_html(port: int, padding: int = 40) -> bytes:
    cdn, img, frames = f"http://cdn.test:{port}", f"http://img.test:{port}", f"http://frames.test:{port}"
    return f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="keywords" content="Secure Login, bank ,">
<style>.hidden {{ content: "fix it"; }}</style>
<title>  Secure
   Login &amp; Verify </title>
<link rel="stylesheet" href="/static/site.css">
<link rel="stylesheet" href="{cdn}/cdn/kit.css">
<link rel="shortcut icon" href="/static/fav.ico">
<link rel="canonical" href="{cdn}/not-a-resource">
<script src="{cdn}/cdn/loader.js?v=3"></script>
<script src="/static/app.js"></script>
<script>
  window.dataLayer = []; gtag('config', 'UA-1234567-1');
  function decodePayloadX(a) {{ return atob(a); }}
  var kitMarker = "zphp-7731";
  var lure = "Press Win+R, then paste";
</script>
</head><body><div class="captcha">Verify you are
  HUMAN</div><img src="{img}/img/logo.png"><img src="data:image/png;base64,AAAA">
<iframe src="{frames}/frame.html"></iframe>
{"<p>Please verify your account to continue.</p>" * padding}
</body></html>""".encode("utf-8")


@pytest.fixture()
def site():
    """The test site (page, its resources, redirects, oversized and slow answers) and the DNS."""
    with ReplayServer() as server:
        port = server.port
        with ScriptedDns({"cdn.test": ["127.0.0.1"], "img.test": ["127.0.0.1"], "frames.test": ["127.0.0.1"],
                          "site.test": ["127.0.0.1"], "internal.test": ["10.0.0.7"],
                          "rebind.test": ["127.0.0.1", "169.254.169.254"]}) as dns_server:
            html = {"Content-Type": "text/html; charset=utf-8"}
            server.add("/", Route(200, page_html(port), html))
            for path, body in (("/static/site.css", CSS), ("/static/app.js", APP_JS), ("/cdn/kit.css", KIT_CSS),
                               ("/cdn/loader.js", LOADER_JS), ("/img/logo.png", LOGO), ("/static/fav.ico", FAVICON),
                               ("/frame.html", b"<html>frame</html>")):
                server.add(path, Route(200, body, {"Content-Type": "application/octet-stream"}))
            server.add("/plain", Route(200, b"<html><title>Plain</title></html>", html))
            server.add("/favicon.ico", Route(200, FAVICON[:200]))
            server.add("/gone", Route(404, b"<html><title>Not Found</title></html>", html))
            server.add("/to-private", Route(302, b"", {"Location": "http://10.1.2.3/admin"}))
            server.add("/to-metadata", Route(301, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}))
            server.add("/to-file", Route(302, b"", {"Location": "file:///etc/passwd"}))
            server.add("/to-name", Route(307, b"", {"Location": f"http://internal.test:{port}/"}))
            server.add("/hop", Route(302, b"", {"Location": "/plain"}))
            server.add("/loop", Route(302, b"", {"Location": "/loop"}))
            server.add("/big", Route(200, b"x" * 3_000_000, html))
            server.add("/big-chunked", Route(200, b"y" * 3_000_000, html, chunked=True))
            server.add("/slow", Route(200, b"<title>late</title>", html, delay=3.0))
            yield server, dns_server


def plugin(dns_server, **settings) -> HttpPlugin:
    return HttpPlugin(CATALOG, {"allow_loopback": "true", "dns_servers": "127.0.0.1",
                                "dns_port": str(dns_server.port), **settings})


def extract(http: HttpPlugin, pivot_id: str, subject: Subject, deadline: float = 8.0) -> list[str]:
    ctx = Context(deadline=time.monotonic() + deadline)
    return [f.value for f in http.extract(CATALOG.pivot(pivot_id), subject, ctx)]


def url(server, path: str = "/") -> Subject:
    return Subject("url", f"{server.url}{path}")


# ---- an independent MurmurHash3 (x86, 32-bit), to check the favicon hash against ----------------

def murmur3_32(data: bytes, seed: int = 0) -> int:
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed
    rounded = len(data) - len(data) % 4
    for i in range(0, rounded, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    k = 0
    for shift, byte in enumerate(data[rounded:]):
        k |= byte << (8 * shift)
    if len(data) % 4:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def shodan_favicon_text(data: bytes) -> bytes:
    """base64 in lines of 76 characters, each ending in a newline (what Shodan hashes)."""
    flat = base64.b64encode(data)
    return b"".join(flat[i:i + 76] + b"\n" for i in range(0, len(flat), 76))


def test_reference_murmur3_matches_published_vectors():
    assert murmur3_32(b"") == 0
    assert murmur3_32(b"hello") == 0x248BFA47
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723


# ---- page features ----------------------------------------------------------------------------------

def test_page_features(site):
    server, dns_server = site
    port = server.port
    http = plugin(dns_server)
    page = url(server)
    assert extract(http, "P0401.001", page) == ["Secure Login & Verify"]
    assert extract(http, "P0401.007", page) == ["200"]
    assert extract(http, "P0401.002", page) == ["UA-1234567-1", "decodePayloadX"]
    # configured phrases in the text or inline scripts (not in styles), then the page's meta keywords
    assert extract(http, "P0401.005", page) == ["verify you are human", "press win+r", "secure login", "bank"]
    assert extract(http, "P0401.003", page) == [
        f"http://cdn.test:{port}/cdn/kit.css", f"http://cdn.test:{port}/cdn/loader.js?v=3",
        f"http://img.test:{port}/img/logo.png", f"http://frames.test:{port}/frame.html"]
    assert extract(http, "P0401.006", page) == ["site.css", "kit.css", "fav.ico", "loader.js", "app.js",
                                                "logo.png", "frame.html"]
    assert len(server.requests_to("/")) == 1   # six leaves, one fetch
    own = plugin(dns_server, keywords="please verify your account, not on the page")
    assert extract(own, "P0401.005", page) == ["please verify your account", "secure login", "bank"]


def test_hashes_of_body_resources_and_favicon(site):
    server, dns_server = site
    body = page_html(server.port)
    hashes = set(extract(plugin(dns_server), "P0401.004", url(server)))
    expected_sha = {hashlib.sha256(b).hexdigest() for b in (body, CSS, APP_JS, KIT_CSS, LOADER_JS, LOGO, FAVICON,
                                                            b"<html>frame</html>")}
    assert expected_sha <= hashes
    favicon = str(murmur3_32(shodan_favicon_text(FAVICON)))
    assert favicon in hashes
    assert str(murmur3_32(base64.b64encode(FAVICON))) not in hashes    # the newlines matter
    assert ppdeep.hash(body) in hashes
    assert len(hashes) == len(expected_sha) + 2
    assert server.requests_to("/static/fav.ico") and not server.requests_to("/favicon.ico")


def test_undeclared_favicon_comes_from_the_root_and_resources_are_capped(site):
    server, dns_server = site
    hashes = extract(plugin(dns_server, max_resources="2"), "P0401.004", url(server, "/plain"))
    assert str(murmur3_32(shodan_favicon_text(FAVICON[:200]))) in hashes
    assert len(server.requests_to("/favicon.ico")) == 1
    capped = extract(plugin(dns_server, max_resources="2"), "P0401.004", url(server))
    fetched = sum(len(server.requests_to(p)) for p in ("/static/site.css", "/static/app.js", "/cdn/kit.css",
                                                       "/cdn/loader.js", "/img/logo.png", "/frame.html"))
    assert fetched == 2 and len(capped) == 2 + 2 + 2   # body sha+ssdeep, favicon mmh3+sha, two resources


def test_custom_code_markers(site):
    server, dns_server = site
    http = plugin(dns_server, code_markers="kitMarker, kit=(zphp-\\d+), loader=decodePayload\\w")
    assert extract(http, "P0401.002", url(server)) == ["kitMarker", "zphp-7731", "loader"]
    listed = plugin(dns_server, code_markers=["gtag\\('config', '([^']+)'", "notPresentAnywhere"])
    assert extract(listed, "P0401.002", url(server)) == ["UA-1234567-1"]
    with pytest.raises(ValueError, match="not a valid regular expression"):
        plugin(dns_server, code_markers="bad=(unclosed")


def test_status_title_of_an_error_page_and_redirects_followed(site):
    server, dns_server = site
    http = plugin(dns_server)
    assert extract(http, "P0401.007", url(server, "/gone")) == ["404"]
    assert extract(http, "P0401.001", url(server, "/gone")) == ["Not Found"]
    assert extract(http, "P0401.001", url(server, "/hop")) == ["Plain"]


def test_a_domain_falls_back_from_https_to_http(site):
    server, dns_server = site
    http = plugin(dns_server, https_port=str(server.port), http_port=str(server.port))
    assert extract(http, "P0401.001", Subject("domain", "site.test")) == ["Secure Login & Verify"]
    assert server.requests_to("/")[0].headers["Host"] == f"site.test:{server.port}"


# ---- the guard ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, reason", [
    ("/to-private", "10.1.2.3 is a private address; refused"),
    ("/to-metadata", "169.254.169.254 is a cloud metadata address; refused"),
    ("/to-file", "only http and https URLs are fetched"),
    ("/to-name", "internal.test (10.0.0.7) is a private address; refused"),
    ("/loop", "more than 5 redirects"),
])
def test_redirects_into_forbidden_places_are_refused(site, path, reason):
    server, dns_server = site
    with pytest.raises(PluginError) as caught:
        extract(plugin(dns_server), "P0401.007", url(server, path))
    assert reason in str(caught.value)


def test_dns_rebinding_cannot_switch_the_address_after_the_check(site):
    """rebind.test answers 127.0.0.1 first, then the metadata address. The page must come from
    the address that was checked, asked once per connection; a new connection asks again and the
    new answer is refused."""
    server, dns_server = site
    target = Subject("url", f"http://rebind.test:{server.port}/plain")
    assert extract(plugin(dns_server), "P0401.001", target) == ["Plain"]
    assert dns_server.a_queries("rebind.test") == 1
    assert server.requests_to("/plain")[0].headers["Host"] == f"rebind.test:{server.port}"
    with pytest.raises(PluginError, match=r"rebind.test \(169.254.169.254\) is a cloud metadata address"):
        extract(plugin(dns_server), "P0401.001", target)
    assert len(server.requests_to("/plain")) == 1


def test_reserved_names_are_never_fetched(site):
    """Demo and documentation names exist on no public server: skipped with an Inform, nothing sent."""
    server, dns_server = site
    http = HttpPlugin(CATALOG, {"dns_servers": "127.0.0.1", "dns_port": str(dns_server.port)})
    with pytest.raises(PluginSkipped, match="site.test is a reserved name"):
        extract(http, "P0401.001", Subject("domain", "site.test"))
    assert server.received == []
    assert dns_server.a_queries("site.test") == 0


def test_loopback_is_refused_by_default(site):
    server, dns_server = site
    http = HttpPlugin(CATALOG, {"dns_servers": "127.0.0.1", "dns_port": str(dns_server.port),
                                "allow_reserved": "true"})
    with pytest.raises(PluginError, match="127.0.0.1 is a loopback address; refused"):
        extract(http, "P0401.001", url(server))
    with pytest.raises(PluginError, match=r"cdn.test \(127.0.0.1\) is a loopback address; refused"):
        extract(http, "P0401.001", Subject("url", f"http://cdn.test:{server.port}/"))
    assert server.received == []


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_oversized_bodies_are_refused(site, path):
    server, dns_server = site
    started = time.monotonic()
    with pytest.raises(PluginError, match="1000000-byte cap; refused"):
        extract(plugin(dns_server, max_bytes="1000000"), "P0401.007", url(server, path))
    assert time.monotonic() - started < 3


def test_a_slow_page_times_out(site):
    server, dns_server = site
    started = time.monotonic()
    with pytest.raises(PluginError, match="did not answer within 0.5 s"):
        extract(plugin(dns_server, timeout="0.5"), "P0401.001", url(server, "/slow"))
    assert time.monotonic() - started < 2


def test_https_keeps_the_name_for_sni_and_the_certificate_check(tmp_path):
    """The socket goes to the checked address, while TLS still speaks to and verifies the name."""
    import ssl

    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("secure.test").configure_cert(context)
    names: list[str] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with ReplayServer(tls_context=context) as server, ScriptedDns({"secure.test": ["127.0.0.1"]}) as dns_server:
        server.add("/", Route(200, b"<title>Behind TLS</title>", {"Content-Type": "text/html"}))
        target = Subject("url", f"https://secure.test:{server.port}/")
        verified = plugin(dns_server, verify_tls="true", ca_bundle=str(tmp_path / "ca.pem"))
        assert extract(verified, "P0401.001", target) == ["Behind TLS"]
        assert names == ["secure.test"]
        with pytest.raises(PluginError, match="TLS with secure.test failed"):
            extract(plugin(dns_server, verify_tls="true"), "P0401.001", target)
        assert extract(plugin(dns_server), "P0401.001", target) == ["Behind TLS"]   # default: not verified
        with pytest.raises(PluginError, match="TLS with 127.0.0.1 failed"):     # the name is checked, not the IP
            extract(plugin(dns_server, verify_tls="true", ca_bundle=str(tmp_path / "ca.pem")), "P0401.001",
                    Subject("url", f"https://127.0.0.1:{server.port}/"))


def test_only_http_and_https_are_fetched():
    fetcher = Fetcher(FetchPolicy(), Guard(allow_loopback=True))
    for target in ("file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/"):
        with pytest.raises(FetchRefused, match="only http and https"):
            fetcher.get(target, time.monotonic() + 2)


@pytest.mark.parametrize("address, reason", [
    ("10.0.0.1", "a private address"), ("172.16.5.4", "a private address"), ("192.168.1.1", "a private address"),
    ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"), ("0.0.0.0", "the unspecified address"),
    ("169.254.169.254", "a cloud metadata address"), ("fd00:ec2::254", "a cloud metadata address"),
    ("169.254.1.1", "a link-local address"), ("fe80::1", "a link-local address"),
    ("fc00::1", "a unique-local address"), ("fd12:3456::1", "a unique-local address"),
    ("224.0.0.251", "a multicast address"), ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a reserved address"), ("::ffff:127.0.0.1", "a loopback address"),
    ("::ffff:10.0.0.1", "a private address"), ("100.64.0.1", "an address that is not publicly routed"),
    ("8.8.8.8", None), ("2001:4860:4860::8888", None), ("93.184.216.34", None),
])
def test_address_classes(address, reason):
    assert refusal_reason(address) == reason


def test_allowing_loopback_allows_nothing_else():
    assert refusal_reason("127.0.0.1", allow_loopback=True) is None
    assert refusal_reason("::1", allow_loopback=True) is None
    assert refusal_reason("10.0.0.1", allow_loopback=True) == "a private address"
    assert refusal_reason("169.254.169.254", allow_loopback=True) == "a cloud metadata address"


# ---- through Maltego ------------------------------------------------------------------------------------

def test_through_maltego_with_write_through(site, tmp_path):
    from transforms.service import Service
    from web.app import create_app

    server, dns_server = site
    path = tmp_path / "store.sqlite3"
    settings = {"http": {"allow_loopback": "1", "dns_servers": "127.0.0.1", "dns_port": str(dns_server.port)}}
    plugins = build_plugins(Store(path), CATALOG, PluginConfig(["local", "http"], settings))
    page = f"{server.url}/"
    with ServerThread(create_app(Service(path, CATALOG, plugins))) as app:
        live = run_transform(app.url, "dtfp0401extracturl", "maltego.URL", page, soft=100, hard=100)
        refused = run_transform(app.url, "dtfp0401001extracturl", "maltego.URL", f"{server.url}/to-metadata")
        not_http = run_transform(app.url, "dtfp0401001extracturl", "maltego.URL", "file:///etc/passwd")
    got = {(e.link.get("dtf.pivot"), e.value) for e in live.entities}
    assert ("P0401.001", "Secure Login & Verify") in got and ("P0401.007", "200") in got
    assert ("P0401.002", "decodePayloadX") in got
    assert ("P0401.004", str(murmur3_32(shodan_favicon_text(FAVICON)))) in got
    assert all(e.link.get("dtf.sources") == "http" for e in live.entities)
    assert refused.entities == [] and any("cloud metadata address; refused" in t for _, t in refused.messages)
    assert not_http.entities == [] and not_http.exceptions and "http(s) URL" in not_http.exceptions[0]

    offline = build_plugins(Store(path), CATALOG, PluginConfig(["local"], {}))
    with ServerThread(create_app(Service(path, CATALOG, offline))) as app:
        again = run_transform(app.url, "dtfp0401extracturl", "maltego.URL", page, soft=100, hard=100)
    assert {(e.link.get("dtf.pivot"), e.value) for e in again.entities} == got
