"""One characteristic, one key: every spelling of the same value normalises to the same key,
and a value that is not what its kind says is refused with a reason."""
from __future__ import annotations

import pytest

from store.normalize import InvalidValue, iso_timestamp, normalize, registrable_parts


def key(kind, raw):
    return normalize(kind, raw)[1]


@pytest.mark.parametrize("raw", ["Calm-River.Example", "calm-river.example.", "CALM-RIVER.EXAMPLE.", " calm-river.example "])
def test_dns_names_ignore_case_dots_and_blanks(raw):
    assert normalize("dns", raw) == ("calm-river.example", "calm-river.example")
    assert key("domain", raw) == "calm-river.example"


@pytest.mark.parametrize("raw", ["bücher.example", "BÜCHER.Example.", "xn--bcher-kva.example"])
def test_internationalised_names_become_idna(raw):
    assert key("dns", raw) == "xn--bcher-kva.example"


def test_wildcard_prefix_is_dropped():
    assert key("dns", "*.cdn.example") == "cdn.example"


@pytest.mark.parametrize("raw", ["not a domain", "localhost", "a..example", "-bad.example", "bad-.example",
                                 "192.0.2.1", "x" * 64 + ".example", ("a." * 130) + "example", "under score!.test",
                                 "example.", "."])
def test_what_is_not_a_dns_name_is_refused(raw):
    with pytest.raises(InvalidValue):
        normalize("dns", raw)


@pytest.mark.parametrize("raw, expected", [
    ("192.0.2.1", "192.0.2.1"),
    (" 198.51.100.7 ", "198.51.100.7"),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("2001:0db8:0000::0001", "2001:db8::1"),
    ("[2001:db8::1]", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1"),
    ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
    ("::FFFF:C000:0201", "::ffff:192.0.2.1"),
])
def test_ip_addresses_have_one_canonical_form(raw, expected):
    assert key("ip", raw) == expected


@pytest.mark.parametrize("raw", ["192.0.2.256", "192.0.2", "192.0.2.001", "2001:db8:::1", "calmoriver.test",
                                 "192.0.2.1%eth0"])
def test_what_is_not_an_ip_is_refused(raw):
    with pytest.raises(InvalidValue, match="not an IPv4 or IPv6 address"):
        normalize("ip", raw)


@pytest.mark.parametrize("raw", ["AS64501", "64501", "as64501", "As 64501", 64501, "AS064501"])
def test_asns_are_plain_digits(raw):
    assert key("asn", raw) == "64501"


@pytest.mark.parametrize("raw", ["ASN", "AS-1", "64501a", "4294967296", "AS"])
def test_what_is_not_an_asn_is_refused(raw):
    with pytest.raises(InvalidValue):
        normalize("asn", raw)


@pytest.mark.parametrize("raw", ["2025-03-24", "2025-03-24T10:00:00Z", "2025-03-24T23:30:00+0000",
                                 "2025-03-25T01:30:00+02:00", "2025-03-24 12:00:00", "March 24, 2025",
                                 1742774400, "1742774400", 1742774400000, "1742774400000"])
def test_dates_from_iso_epoch_and_offsets(raw):
    assert key("date", raw) == "2025-03-24"


def test_timestamps_are_utc_iso():
    assert iso_timestamp("2025-04-01T10:00:00+0200") == "2025-04-01T08:00:00Z"
    assert iso_timestamp("2025-04-01") == "2025-04-01T00:00:00Z"
    assert iso_timestamp(1743501600) == "2025-04-01T10:00:00Z"
    assert iso_timestamp("1743501600000") == "2025-04-01T10:00:00Z"


@pytest.mark.parametrize("raw", ["2025-02-30", "yesterday", "24/03/2025", 10 ** 30, float("nan"), -1e300, True])
def test_what_is_not_a_date_is_refused(raw):
    with pytest.raises(InvalidValue):
        normalize("date", raw)


@pytest.mark.parametrize("raw", ["P.Kuznets77@Inbox-Mail.Example", "mailto:p.kuznets77@inbox-mail.example",
                                 " p.kuznets77@INBOX-MAIL.example "])
def test_emails_are_case_insensitive(raw):
    assert key("email", raw) == "p.kuznets77@inbox-mail.example"


@pytest.mark.parametrize("raw", ["no-at-sign", "a@b@c.example", "a@not a domain", "@example.test"])
def test_what_is_not_an_email_is_refused(raw):
    with pytest.raises(InvalidValue):
        normalize("email", raw)


def test_text_keeps_display_and_casefolds_the_key():
    assert normalize("text", "  Regway   Domains LLC ") == ("Regway Domains LLC", "regway domains llc")
    assert key("text", "STRASSE") == key("text", "Straße")
    with pytest.raises(InvalidValue, match="longer"):
        normalize("text", "x" * 5000)


@pytest.mark.parametrize("kind, raw, expected", [
    ("int", "0200", "200"), ("int", 200, "200"),
    ("hash", "BDEA756338FA71147F540541FC65E45DF28A2C30DAA9B0E17AA327E1CEF65D15",
     "bdea756338fa71147f540541fc65e45df28a2c30daa9b0e17aa327e1cef65d15"),
    ("hash", "-1109327625", "-1109327625"),
    ("url", "HTTPS://Sevenzip-Get.TEST:443/getfile.php?id=1", "https://sevenzip-get.test/getfile.php?id=1"),
    ("url", "http://192.0.2.1:8080", "http://192.0.2.1:8080/"),
    ("country", "nl", "NL"), ("tld", ".TOP", "top"), ("tld", "*.co.uk", "co.uk"), ("label", "Google", "google"),
    ("pattern", "Teams-*", "teams-*"),
    ("pattern", "/^\\D+\\.Test$/", "/^\\D+\\.Test$/"),
])
def test_other_kinds(kind, raw, expected):
    assert key(kind, raw) == expected


@pytest.mark.parametrize("kind, raw", [
    ("int", "2.5"), ("hash", "xyz"), ("url", "ftp://a.example/"), ("url", "https://"), ("country", "NLD"),
    ("pattern", "ab"), ("pattern", "/[unclosed/"), ("pattern", "/(a+)+$/"), ("pattern", "/^([a-z]|[a-z]{2})*$/"), ("label", "a.b"), ("nosuchkind", "x"),
    ("url", "https://[2001:db8::1/x"), ("url", "http://a.example:99999/"), ("tld", "ü" * 70), ("label", "\ud800"),
    ("tld", "ß" * 300), ("dns", "🙂" * 70 + ".example"),
    ("dns", None), ("dns", "   "), ("text", ""), ("dns", True), ("text", ["a"]), ("text", {"a": 1}),
])
def test_invalid_values_raise_invalid_value(kind, raw):
    with pytest.raises(InvalidValue):
        normalize(kind, raw)


def test_registrable_parts_use_the_public_suffix_list():
    assert registrable_parts("google.meet-x.co.uk") == ("co.uk", "meet-x", ["google"])
    assert registrable_parts("a.b.calmoriver.test") == ("test", "calmoriver", ["a", "b"])
    assert registrable_parts("calmoriver.test") == ("test", "calmoriver", [])
