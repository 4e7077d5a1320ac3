"""Hostile and malformed requests over a real socket: each gets Maltego XML naming the problem
(HTTP 200, or 404 for a GET of an unknown transform), never HTML or a traceback, and the store
is the same afterwards."""
from __future__ import annotations

import hashlib
import http.client
import json
import urllib.request
from xml.etree import ElementTree

import pytest

from support import ServerThread, maltego_request, parse_response, post

DOMAIN_SEED = "calmoriver.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import load_demo
    from web.app import create_app

    service = load_demo(tmp_path_factory.mktemp("hostile") / "store.sqlite3")
    with ServerThread(create_app(service)) as running:
        with urllib.request.urlopen(f"{running.url}/transforms.json", timeout=10) as response:
            running.transforms = json.loads(response.read())
        running.service = service
        yield running


def path_of(server, pivot: str, entity_type: str) -> str:
    spec = next(t for t in server.transforms if t["kind"] == "pivot" and t["pivot"] == pivot
                and t["input"] == entity_type)
    return spec["path"]


def fingerprint(service) -> str:
    """A digest of everything the store holds, to prove a request changed nothing."""
    conn = service.store.connection
    digest = hashlib.sha256()
    for table in ("observations", "relations", "domains", "domain_labels", "ips"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def assert_maltego_error(status, content_type, text, expected: str, code: int = 200):
    assert status == code, (status, text[:300])
    assert content_type.startswith("text/xml"), content_type
    assert "<html" not in text.lower() and "Traceback" not in text
    root = ElementTree.fromstring(text)
    assert root.tag == "MaltegoMessage"
    exceptions = parse_response(text).exceptions
    assert exceptions, text[:300]
    assert expected.lower() in " ".join(exceptions).lower(), exceptions


ENVELOPE = ('<MaltegoMessage><MaltegoTransformRequestMessage><Entities><Entity Type="maltego.Domain">'
            '<Value>{value}</Value></Entity></Entities></MaltegoTransformRequestMessage></MaltegoMessage>')

BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE MaltegoMessage [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
                            for i in range(1, 10))
                  + ']>' + ENVELOPE.format(value="&lol9;")).encode()
EXTERNAL_ENTITY = ('<?xml version="1.0"?><!DOCTYPE MaltegoMessage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   + ENVELOPE.format(value="&xxe;")).encode()
EXTERNAL_DTD = ('<?xml version="1.0"?><!DOCTYPE MaltegoMessage SYSTEM "http://127.0.0.1:9/evil.dtd">'
                + ENVELOPE.format(value=DOMAIN_SEED)).encode()
PARAMETER_ENTITY = ('<?xml version="1.0"?><!DOCTYPE MaltegoMessage [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>'
                    + ENVELOPE.format(value=DOMAIN_SEED)).encode()


CASES = {
    "billion laughs": (BILLION_LAUGHS, "DTD"),
    "external entity": (EXTERNAL_ENTITY, "entity"),
    "external DTD": (EXTERNAL_DTD, "DTD"),
    "parameter entity": (PARAMETER_ENTITY, "DTD"),
    "invalid UTF-8": (maltego_request("maltego.Domain", DOMAIN_SEED).replace(b"calmoriver", b"calm\xff\xferiver"),
                      "UTF-8"),
    "not XML": (b"GET / HTTP/1.1 this is not xml", "well-formed"),
    "truncated XML": (maltego_request("maltego.Domain", DOMAIN_SEED)[:-30], "well-formed"),
    "empty body": (b"", "empty"),
    "blank body": (b"  \r\n ", "empty"),
    "other root": (b"<html><body>hi</body></html>", "MaltegoMessage"),
    "no request message": (b"<MaltegoMessage/>", "MaltegoTransformRequestMessage"),
    "no entity": (b"<MaltegoMessage><MaltegoTransformRequestMessage><Entities/></MaltegoTransformRequestMessage>"
                  b"</MaltegoMessage>", "no entity"),
    "entity without value": (maltego_request("maltego.Domain", "   "), "no value"),
    "domain that is no domain": (maltego_request("maltego.Domain", "not a domain!"), "not a DNS name"),
    "domain that is an IP": (maltego_request("maltego.Domain", "192.0.2.1"), "IP address"),
    "oversized domain": (maltego_request("maltego.Domain", "a" * 5000 + ".test"), "not a DNS name"),
    "limits not numbers": (maltego_request("maltego.Domain", DOMAIN_SEED).replace(b'SoftLimit="12"',
                                                                                   b'SoftLimit="many"'),
                           "SoftLimit"),
    "negative limit": (maltego_request("maltego.Domain", DOMAIN_SEED, soft=-5, hard=10), "negative"),
    "NUL character reference": (ENVELOPE.format(value="calm&#0;river.test").encode(), "well-formed"),
    "UTF-16 body": (maltego_request("maltego.Domain", DOMAIN_SEED).decode().encode("utf-16"), "UTF-8"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_body_gets_a_maltego_error(server, case):
    body, expected = CASES[case]
    before = fingerprint(server.service)
    status, content_type, text = post(f"{server.url}{path_of(server, 'P0101.001', 'maltego.Domain')}", body)
    assert_maltego_error(status, content_type, text, expected)
    assert "root:" not in text, "no file content may leak into the answer"
    assert fingerprint(server.service) == before


def test_oversized_body_with_content_length(server):
    body = maltego_request("maltego.Domain", DOMAIN_SEED) + b" " * (1 << 20)
    status, content_type, text = post(f"{server.url}{path_of(server, 'P0101.001', 'maltego.Domain')}", body)
    assert_maltego_error(status, content_type, text, "too large")


def test_oversized_chunked_body_without_content_length(server):
    def chunks():
        yield maltego_request("maltego.Domain", DOMAIN_SEED)
        for _ in range(24):
            yield b" " * 65536

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", path_of(server, "P0101.001", "maltego.Domain"), body=chunks(),
                 headers={"Content-Type": "text/xml"}, encode_chunked=True)
    response = conn.getresponse()
    assert_maltego_error(response.status, response.getheader("Content-Type"), response.read().decode(), "too large")
    conn.close()


def test_chunked_body_within_the_cap_works(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", path_of(server, "P0101.001", "maltego.Domain"),
                 body=iter([maltego_request("maltego.Domain", DOMAIN_SEED)]),
                 headers={"Content-Type": "text/xml"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200
    assert parse_response(response.read().decode()).entities
    conn.close()


def test_ip_transform_given_a_domain(server):
    body = maltego_request("maltego.Domain", DOMAIN_SEED)
    status, content_type, text = post(f"{server.url}{path_of(server, 'P0202', 'maltego.IPv4Address')}", body)
    assert_maltego_error(status, content_type, text, "takes a maltego.IPv4Address")


def test_ip_transform_given_a_value_that_is_no_ip(server):
    body = maltego_request("maltego.IPv4Address", "calmoriver.test")
    status, content_type, text = post(f"{server.url}{path_of(server, 'P0202', 'maltego.IPv4Address')}", body)
    assert_maltego_error(status, content_type, text, "not an IPv4 or IPv6 address")


def test_expand_given_a_value_of_the_wrong_kind(server):
    spec = next(t for t in server.transforms if t["kind"] == "expand" and t["pivot"] == "P0203.002")
    status, content_type, text = post(f"{server.url}{spec['path']}", maltego_request(spec["input"], "AS-banana"))
    assert_maltego_error(status, content_type, text, "not an AS number")


def test_unknown_transform_name(server):
    status, content_type, text = post(f"{server.url}/run/dtfnosuchtransform/",
                                      maltego_request("maltego.Domain", DOMAIN_SEED))
    assert_maltego_error(status, content_type, text, "dtfnosuchtransform")


def test_get_of_an_unknown_transform_is_a_404_in_xml(server):
    try:
        urllib.request.urlopen(f"{server.url}/run/dtfnosuchtransform/", timeout=10)
        raise AssertionError("expected HTTP 404")
    except urllib.error.HTTPError as exc:
        assert_maltego_error(exc.code, exc.headers["Content-Type"], exc.read().decode(), "dtfnosuchtransform",
                             code=404)


def test_get_of_a_known_transform_describes_it(server):
    path = path_of(server, "P0101.001", "maltego.Domain")
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as response:
        described = json.loads(response.read())
    assert described["path"] == path and described["pivot"] == "P0101.001"


def test_other_methods_get_xml_not_html(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("PUT", path_of(server, "P0101.001", "maltego.Domain"), body=b"x")
    response = conn.getresponse()
    assert_maltego_error(response.status, response.getheader("Content-Type"), response.read().decode(), "405")
    conn.close()


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/octet-stream", ""])
def test_any_content_type_with_a_valid_body_works(server, content_type):
    path = path_of(server, "P0101.001", "maltego.Domain")
    body = maltego_request("maltego.Domain", DOMAIN_SEED, soft=100, hard=100)
    _, _, reference = post(f"{server.url}{path}", body)
    status, answer_type, text = post(f"{server.url}{path}", body, content_type=content_type)
    assert status == 200 and answer_type.startswith("text/xml")
    result = parse_response(text)
    assert not result.exceptions and result.entities
    assert result.values() == parse_response(reference).values()


def test_server_still_healthy_and_store_unchanged_after_everything(server):
    before = fingerprint(server.service)
    for body, _ in CASES.values():
        post(f"{server.url}{path_of(server, 'P0101.001', 'maltego.Domain')}", body)
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"
    assert fingerprint(server.service) == before
    assert server.service.store.integrity_ok()
