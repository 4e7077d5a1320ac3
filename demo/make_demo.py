#!/usr/bin/env python3
"""Generate the demo dataset: demo/demo.jsonl (observations) and demo/seeds.yaml.

The data is fictional but follows the hunting patterns of DTF's examples
(EX0001-EX0017): fourteen small campaigns, each leaving a few shared
characteristics, mixed with unrelated "noise" infrastructure so that every
pivot is selective only in combination, as in real hunting.

Only reserved names and numbers are used: domains under .example, .test and
.invalid, IPv4 in 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24, IPv6 in
2001:db8::/32, ASNs 64496-64511, e-mail addresses at those domains.

Run from the repository root:  .venv/bin/python demo/make_demo.py

The generator is deterministic (seeded RNG, no network). Before writing, it
re-checks every seed and tour step against the generated records with a small,
independent re-implementation of the pivot semantics (see `Index`), and exits
with an error if an expectation does not hold.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import json
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml

OUT_DIR = Path(__file__).resolve().parent
JSONL_PATH = OUT_DIR / "demo.jsonl"
SEEDS_PATH = OUT_DIR / "seeds.yaml"
RNG_SEED = 20250324
SOURCE = "demo"
NOISE_COUNT = 44  # randomly generated unrelated domains (besides the hand-made decoys)


def fake_sha256(label: str) -> str:
    """A stable, obviously synthetic SHA-256 (the hash of a descriptive label)."""
    return hashlib.sha256(f"dtf-demo:{label}".encode()).hexdigest()


# --------------------------------------------------------------------------
# Data tables
# --------------------------------------------------------------------------

# Autonomous systems by address range: first, last, ASN, AS name, country, PTR.
# A PTR containing "{dash}" is per address (e.g. ip-198-51-100-20...); the
# bulletproof hoster gives every address the same generic PTR, as many do.
AS_TABLE = [
    ("192.0.2.0", "192.0.2.127", 64496, "EXAMPLE-CLOUD-AS", "US", "ip-{dash}.compute.example-cloud.example"),
    ("192.0.2.128", "192.0.2.255", 64499, "SHIELDFRONT-EXAMPLE-AS", "US", "edge-{dash}.shieldfront.example"),
    ("198.51.100.0", "198.51.100.63", 64501, "EXAMPLE-BULLETPROOF-AS", "NL", "hosted-by.bulwark-host.example"),
    ("198.51.100.64", "198.51.100.127", 64502, "EXAMPLE-HOSTING-AS", "US", "{dash}.static.example-hosting.example"),
    ("198.51.100.128", "198.51.100.255", 64497, "EXAMPLE-ISP-AS", "GB", "host-{dash}.broadband.example-isp.example"),
    ("203.0.113.0", "203.0.113.63", 64503, "EXAMPLE-VPS-AS", "DE", "vps-{dash}.example-vps.example"),
    ("203.0.113.64", "203.0.113.127", 64504, "EXAMPLE-OFFSHORE-AS", "SC", "srv-{dash}.offshore-hosting.example"),
    ("203.0.113.128", "203.0.113.191", 64505, "EXAMPLE-DEDI-AS", "NL", "dedi-{dash}.example-dedi.example"),
    ("203.0.113.192", "203.0.113.255", 64498, "EXAMPLE-TELECOM-AS", "FR", "{dash}.fibre.example-telecom.example"),
    ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 64496, "EXAMPLE-CLOUD-AS", "US", "ip6-{dash}.compute.example-cloud.example"),
]
# ASes for which the AS number is also recorded under the child ID P0203.002.
RECORD_AS_NUMBER_CHILD = {64501, 64502}

PRIVACY = "Redacted for Privacy"
CHEAP_CERTS = "Example Free Certificates"        # the free, automated CA everybody uses
SHIELDFRONT_NS = ["alice", "bob", "carl", "dana", "emil", "fay", "gus", "hana"]

# Shared resources (P0401.004): body hashes, an ssdeep digest, favicon mmh3 values.
ADS_PANEL_SHA256 = fake_sha256("paperkite ads.php panel response")
ADS_PANEL_SSDEEP = "3:hRkZp1WQvB7yAqLdmQkEHx9nAqRAdTwIfqo21KRoAqTNoMhPlsAqM:hRkH1vBdyQkE9nAPtoAqoMhPlsA"
CAPTCHA_JS_SHA256 = fake_sha256("clickshade fake captcha script")
CAPTCHA_CSS_SHA256 = fake_sha256("clickshade fake captcha stylesheet")
DRAINER_JS_SHA256 = fake_sha256("coinsieve wallet drainer script")
SEVENFOLD_FAVICON_MMH3 = "-1109327625"
TEAMSTRAP_FAVICON_MMH3 = "1734906215"

# The campaigns. Keys used by build_campaign():
#   domains      registrable names; `host` (optional) puts DNS A/TLS/web on "<host>.<domain>"
#   ips          resolution targets, cycled over the domains
#   registered   a date, or a (first, last) range to draw from
#   until        last day the infrastructure was seen
#   registrar / registrant / email ("privacy" = a unique proxy address per domain)
#   ns           name-server pairs, cycled over the domains; dns_ns: also record the DNS view
#   soa / mx / cname, issuer / not_before / san (list of certificate SAN groups)
#   title (str or list, cycled), code, keywords: observed on the domain (or host)
#   pages        URLs under each host: path, status and any P0401.* values
CAMPAIGNS = [
    dict(
        name="GLASSWING",
        about="fake browser-update injects behind a registrar + name server + bulletproof AS cluster",
        examples=["EX0001", "EX0005"],
        domains=["calmoriver.test", "denverloft-art.example", "fernhollow.test", "gildedpane.example",
                 "harborquill.test", "ivorytrend.example", "junipersway.test", "kelpmeadow.example",
                 "lunarbrisk.test", "mossgrove-studio.example", "nimbusarch.test", "oakenrally.example",
                 "pebblecrest.test", "quartzlane.example"],
        ips=["198.51.100.20", "198.51.100.23", "198.51.100.27", "198.51.100.31", "198.51.100.36"],
        registered=("2024-10-02", "2025-01-20"), until="2025-06-28",
        registrar="Regway Domains LLC", registrant=PRIVACY, email="privacy",
        ns=[("dns1.regway-dns.example", "dns2.regway-dns.example")],
        soa="hostmaster.regway-dns.example",
        issuer=CHEAP_CERTS, not_before="2025-02-11",
        title=["Activitar | Template", "Job Board"],
        code=["updateBrowserPrompt"],
    ),
    dict(
        name="PAPERKITE",
        about="backend C2 'link providers' answering /ads.php with a base64 URL (LandUpdate808-like)",
        examples=["EX0001", "EX0017"],
        domains=["adsfeedhub.test", "clickrelay-cdn.example", "promoloadr.test", "bannerstack.example",
                 "adsyncnet.test", "linkfeed-svc.example", "pixeltally.test", "trafficpulse.example",
                 "adsnode-cloud.test", "feedmetrics.example"],
        ips=["198.51.100.70", "198.51.100.72", "198.51.100.75", "198.51.100.81", "198.51.100.88"],
        registered=("2025-02-03", "2025-05-30"), until="2025-08-14",
        registrar="Globex Domain Group LLC", registrant=PRIVACY, email="privacy",
        ns=[(f"{a}.ns.shieldfront-dns.example", f"{b}.ns.shieldfront-dns.example")
            for a, b in [("alice", "bob"), ("carl", "dana"), ("emil", "fay")]],
        issuer=CHEAP_CERTS, not_before=("2025-02-10", "2025-06-05"),
        pages=[dict(path="/ads.php", status=200, **{"P0401.004": [ADS_PANEL_SHA256, ADS_PANEL_SSDEEP]})],
    ),
    dict(
        name="RUSTBELT",
        about="invoice/parcel lures on a free DNS host under one TLD, same AS as PAPERKITE (TA582-like)",
        examples=["EX0001"],
        domains=["parcel-notice.invalid", "invoice-portal.invalid", "secure-docview.invalid",
                 "acct-verify.invalid", "billing-update.invalid", "filedrop-share.invalid",
                 "payroll-notice.invalid", "docusafe-sign.invalid"],
        ips=["198.51.100.100", "198.51.100.103", "198.51.100.109"],
        registered=("2024-05-06", "2024-07-19"), until="2024-10-31",
        registrar="Namecheck Inc.", registrant=PRIVACY, email="privacy",
        ns=[("ns1.freedns-he.example", "ns2.freedns-he.example")], dns_ns=True,
        soa="hostmaster.freedns-he.example",
        issuer=CHEAP_CERTS, not_before=("2024-05-10", "2024-08-01"),
        title="Secure Document Portal",
    ),
    dict(
        name="CLICKSHADE",
        about="ClickFix fake-CAPTCHA sites all CNAMEd to one tracker, loading the same scripts",
        examples=["EX0002"],
        domains=["searchbetterdeals.test", "findmyanswer-now.example", "quickrecipes-hub.test",
                 "weatherdaily-now.example", "pdfreader-online.test", "dailyhoroscope-web.test",
                 "lyricsfinder-pro.example", "currencyrates-live.test", "topgamesfree.example"],
        ips=["203.0.113.20", "203.0.113.21"],
        registered=("2025-01-08", "2025-03-14"), until="2025-04-03",
        registrar="Nicename Registrar Ltd", registrant=PRIVACY, email="privacy",
        ns=[("ns1.parkdns.example", "ns2.parkdns.example")],
        cname="qzvtk.trkbounce.example",
        issuer=CHEAP_CERTS, not_before=("2025-01-10", "2025-03-20"),
        keywords=["verify you are human", "press win+r"],
        pages=[dict(path="/", status=200, **{"P0401.004": [CAPTCHA_JS_SHA256, CAPTCHA_CSS_SHA256]})],
    ),
    dict(
        name="STONEPATH",
        about="traffic-distribution (Keitaro-like) domains parked together on a single IP",
        examples=["EX0009"],
        domains=["brightcoastway.test", "silentmapleday.example", "swiftriverlane.test",
                 "goldenfieldtrip.example", "quietharborway.test", "deepstonepath.example"],
        ips=["203.0.113.66"],
        registered=("2024-03-04", "2024-05-22"), until="2024-09-30",
        registrar="Namecheck Inc.", registrant=PRIVACY, email="privacy",
        ns=[("ns1.parkdns.example", "ns2.parkdns.example")],
        issuer=CHEAP_CERTS, not_before=("2024-03-10", "2024-06-01"),
    ),
    dict(
        name="FAKEMEET",
        about="fake video-meeting pages on a 'google.' subdomain, one registrar and NS pair (EX0013)",
        examples=["EX0013"],
        domains=["meet-gxq.test", "meet-rvk.example", "meet-jzt.test", "meet-wpa.example",
                 "meetings-join.test", "meet-hqx.invalid", "meet-live-session.example"],
        host="google",
        ips=["192.0.2.201", "192.0.2.202", "192.0.2.207"],
        registered=("2025-02-20", "2025-03-22"), until="2025-04-30",
        registrar="Spaceport Registrar Inc", registrant=PRIVACY, email="privacy",
        ns=[("ricardo.ns.shieldfront-dns.example", "zara.ns.shieldfront-dns.example")],
        issuer="Shieldfront Edge CA", not_before=("2025-02-21", "2025-03-25"),
        title="Meet - Join the call",
        code=["fixConnectionClipboard"],
    ),
    dict(
        name="TEAMSTRAP",
        about="'teams-*' download lures sharing mail exchangers, SOA contact and favicon",
        examples=["EX0007", "EX0008"],
        domains=["teams-update.test", "teams-download.example", "teams-meeting-join.test",
                 "teams-web-app.example", "teams-install.invalid", "teams-setup-pro.test",
                 "teams-connect.example", "teams-desktop.test", "teams-invite.example"],
        ips=["203.0.113.170", "203.0.113.171", "203.0.113.174"],
        registered=("2024-09-02", "2024-11-25"), until="2025-01-31",
        registrar="Spaceport Registrar Inc", registrant=PRIVACY, email="privacy",
        ns=[("ns1.hostpoint-dns.example", "ns2.hostpoint-dns.example")], dns_ns=True,
        soa="kr4k3n.mailbox-mail.example",
        mx=["mx1.relaymx.example", "mx2.relaymx.example"],
        issuer=CHEAP_CERTS, not_before=("2024-09-05", "2024-12-01"),
        title="Teams | Download the desktop app",
        pages=[dict(path="/favicon.ico", status=200, **{"P0401.004": [TEAMSTRAP_FAVICON_MMH3]}),
               dict(path="/download/TeamsSetup_x64.exe", status=200)],
    ),
    dict(
        name="ANVIL",
        about="stealer C2 domains with metal-themed names registered in one burst by one registrant",
        examples=["EX0006", "EX0010"],
        domains=["smeltory.test", "anvilex.test", "forgewry.test", "bronzia.test",
                 "alloyix.test", "tempero.test", "cruciba.test"],
        ips=["198.51.100.41", "198.51.100.44"],
        registered="2025-03-24", until="2025-05-20",
        registrar="Nicename Registrar Ltd", registrant="Pavel Kuznets", email="p.kuznets77@inbox-mail.example",
        ns=[("ns1.parkdns.example", "ns2.parkdns.example")],
        issuer=CHEAP_CERTS, not_before="2025-03-25",
    ),
    dict(
        name="CHEATLURE",
        about="'free game cheats' download sites promoted in video descriptions",
        examples=["EX0003"],
        domains=["freecheats-hub.test", "gamehacks-zone.example", "aimbot-download.test",
                 "modmenu-free.example", "unlockall-tool.test", "cheatvault-pro.example", "spoofer-free.test"],
        ips=["203.0.113.80", "203.0.113.82", "203.0.113.84"],
        registered=("2024-12-02", "2025-02-17"), until="2025-04-12",
        registrar="Nicename Registrar Ltd", registrant="Kestrel Media Group", email="privacy",
        ns=[("ns1.parkdns.example", "ns2.parkdns.example")],
        issuer=CHEAP_CERTS, not_before=("2024-12-05", "2025-02-20"),
        title=["Free Cheats & Game Hacks 2025", "Undetected Mod Menu - Free Download"],
        keywords=["free cheats", "game hacks", "undetected"],
        pages=[dict(path="/", status=200, **{"P0401.003": ["https://filedrop-cdn.example/loader/setup.rar"]})],
    ),
    dict(
        name="SEVENFOLD",
        about="fake archiver download sites: same title, favicon, script marker and download script",
        examples=["EX0004"],
        domains=["sevenzip-get.test", "7z-archiver.example", "zipper-download.test", "archive-tool-dl.example",
                 "7zipfiles.test", "sevenzip-official.example", "extract-pro-download.test"],
        ips=["203.0.113.30", "203.0.113.33"],
        registered=("2024-07-01", "2024-09-16"), until="2024-12-20",
        registrar="Namecheck Inc.", registrant=PRIVACY, email="privacy",
        ns=[("ns1.hostpoint-dns.example", "ns2.hostpoint-dns.example")],
        issuer=CHEAP_CERTS, not_before=("2024-07-03", "2024-09-20"),
        title="Download",
        code=["getIPAddres"],
        pages=[dict(path="/favicon.ico", status=200, **{"P0401.004": [SEVENFOLD_FAVICON_MMH3]}),
               dict(path="/getfile.php", status=200)],
    ),
    dict(
        name="COINSIEVE",
        about="generated five-letter crypto-phishing domains loading one wallet-drainer script",
        examples=["EX0011"],
        domains=["kvxqa.test", "zorbl.test", "plinq.test", "druxo.test", "fenwa.test", "quomb.test", "yaxil.test"],
        ips=["203.0.113.100", "203.0.113.101", "203.0.113.104"],
        registered=("2025-03-03", "2025-04-18"), until="2025-05-31",
        registrar="Globex Domain Group LLC", registrant=PRIVACY, email="privacy",
        ns=[(f"{a}.ns.shieldfront-dns.example", f"{b}.ns.shieldfront-dns.example")
            for a, b in [("gus", "hana"), ("alice", "fay")]],
        issuer=CHEAP_CERTS, not_before=("2025-03-04", "2025-04-20"),
        title="Claim your airdrop",
        pages=[dict(path="/", status=200, **{
            "P0401.003": ["https://cdn.walletsync.example/js/connect-v2.js"],
            "P0401.004": [DRAINER_JS_SHA256]})],
    ),
    dict(
        name="PDFGOOSE",
        about="SEO-poisoned 'PDF converter' sites on neighbouring IPs, sharing multi-name certificates",
        examples=["EX0012", "EX0014"],
        domains=["pdfconvert-free.test", "pdf2word-online.example", "convertpdf-now.test", "pdf-tools-hub.example",
                 "docs-to-pdf.test", "pdfmerge-easy.test", "ilovedocs-convert.example"],
        ips=["203.0.113.140", "203.0.113.142", "203.0.113.145", "203.0.113.147", "203.0.113.149"],
        registered=("2024-09-09", "2024-10-28"), until="2024-12-18",
        registrar="Namecheck Inc.", registrant=PRIVACY, email="privacy",
        ns=[("ns1.hostpoint-dns.example", "ns2.hostpoint-dns.example")],
        issuer=CHEAP_CERTS, not_before=("2024-09-12", "2024-11-01"),
        san=[["pdfconvert-free.test", "pdf2word-online.example", "convertpdf-now.test", "pdf-tools-hub.example"],
             ["docs-to-pdf.test", "pdfmerge-easy.test", "ilovedocs-convert.example"]],
        title="Free PDF Converter Online",
    ),
    dict(
        name="REFRENCE",
        about="copy/paste 'verify you are human' kit betrayed by its misspelled page name",
        examples=["EX0016"],
        domains=["captcha-check.test", "human-verify.example", "secure-gate-check.test",
                 "cloud-verify-now.example", "bot-check-page.test"],
        ips=["198.51.100.120", "198.51.100.122"],
        registered=("2025-04-07", "2025-05-26"), until="2025-08-09",
        registrar="Globex Domain Group LLC", registrant=PRIVACY, email="privacy",
        ns=[("ns1.parkdns.example", "ns2.parkdns.example")],
        issuer=CHEAP_CERTS, not_before=("2025-04-08", "2025-05-30"),
        pages=[dict(path="/refrence.html", status=200)],
    ),
    dict(
        name="DUTCHSHIELD",
        about="Dutch-language antivirus look-alikes pushing a remote-support tool, one page title",
        examples=["EX0015"],
        domains=["shieldpro-gratis.test", "gratis-antivirus-nl.example", "shieldpro-download.test",
                 "beveilig-pc.example"],
        ips=["203.0.113.55"],
        registered=("2025-03-10", "2025-04-14"), until="2025-05-25",
        registrar="Spaceport Registrar Inc", registrant=PRIVACY, email="privacy",
        ns=[("ns1.hostpoint-dns.example", "ns2.hostpoint-dns.example")],
        issuer=CHEAP_CERTS, not_before=("2025-03-12", "2025-04-16"),
        title="ShieldPro 2024 | GRATIS Antivirus, VPN, TuneUp voor alle apparaten",
    ),
]

# Hand-made unrelated domains ("decoys") that share exactly one of a campaign's
# characteristics, so that single pivots over-match and combinations do not.
# Anything not given is filled in like random noise.
DECOYS = [
    # Regway customers: same registrar and default name servers, but on ordinary cloud hosting
    dict(name="alpine-bakery.example", registrar="Regway Domains LLC",
         ns=("dns1.regway-dns.example", "dns2.regway-dns.example"), ips=["192.0.2.14"]),
    dict(name="nordic-kayak.example", registrar="Regway Domains LLC",
         ns=("dns1.regway-dns.example", "dns2.regway-dns.example"), ips=["192.0.2.31"]),
    # same registrar and bulletproof AS, other name servers
    dict(name="quickloans-247.example", registrar="Regway Domains LLC",
         ns=("ns1.parkdns.example", "ns2.parkdns.example"), ips=["198.51.100.50"]),
    # same name servers and AS, other registrar
    dict(name="mixer-privacy.example", registrar="Nicename Registrar Ltd",
         ns=("dns1.regway-dns.example", "dns2.regway-dns.example"), ips=["198.51.100.52"]),
    # ads.php answering 200, but on another AS; ads.php on the same AS, but gone (404)
    dict(name="adserve-metrics.example", ips=["198.51.100.160"], pages=[dict(path="/ads.php", status=200)]),
    dict(name="oldblog-ads.example", ips=["198.51.100.95"], pages=[dict(path="/ads.php", status=404)]),
    # genuine download portals: same title / same favicon / same script name as SEVENFOLD
    dict(name="freeware-mirror.example", title="Download", pages=[dict(path="/getfile.php", status=200)]),
    dict(name="archiver-mirror.example", title="Archiver - official mirror",
         pages=[dict(path="/favicon.ico", status=200, **{"P0401.004": [SEVENFOLD_FAVICON_MMH3]})]),
    dict(name="printer-drivers.example", title="Download"),
    # name-based look-alikes
    dict(name="steamsauna.example"),                                  # contains "teams"
    dict(name="seo-agency-bergen.example", host="google", title="Google Ads - SEO Agency Bergen"),
    dict(name="lakes.test"),                                          # five letters, .test
    dict(name="staging-portal.invalid", ns=("ns1.freedns-he.example", "ns2.freedns-he.example"), dns_ns=True),
    dict(name="intranet-wiki.invalid"),
    # legitimate users of the same free DNS / mail relay services
    dict(name="chess-club-utrecht.example", ns=("ns1.freedns-he.example", "ns2.freedns-he.example"), dns_ns=True),
    dict(name="homebrew-notes.example", ns=("ns1.freedns-he.example", "ns2.freedns-he.example"), dns_ns=True),
    dict(name="craftbeer-club.example", mx=["mx1.relaymx.example", "mx2.relaymx.example"]),
    dict(name="yoga-retreat-nl.example", mx=["mx1.relaymx.example", "mx2.relaymx.example"]),
    # registered on the day of the ANVIL burst
    dict(name="spring-sale-shop.example", registered="2025-03-24"),
    # a gaming news site that writes about cheats
    dict(name="gamer-news-daily.example", keywords=["game hacks", "patch notes"], title="Gamer News Daily"),
    # the correctly spelled page name
    dict(name="docs-portal.example", pages=[dict(path="/reference.html", status=200)]),
    # an unrelated neighbour of the PDFGOOSE addresses
    dict(name="photo-archive.example", ips=["203.0.113.137"]),
]

# Random noise: word lists and the services ordinary sites use.
NOISE_WORDS_A = ["amber", "birch", "cedar", "delta", "ember", "fjord", "golden", "harbor", "indigo", "jasper",
                 "kestrel", "lumen", "maple", "north", "olive", "prairie", "quiet", "river", "silver", "tidal",
                 "urban", "velvet", "willow", "yarrow", "zephyr"]
NOISE_WORDS_B = ["bakery", "bikes", "books", "cafe", "clinic", "dental", "florist", "gallery", "garden", "law",
                 "market", "music", "optics", "pottery", "realty", "studio", "tailor", "travel", "vets", "yoga"]
NOISE_REGISTRARS = ["Namecheck Inc.", "Example Registrar Europe B.V.", "Spaceport Registrar Inc",
                    "Globex Domain Group LLC", "Nicename Registrar Ltd", "Regway Domains LLC",
                    "Sample Names GmbH"]
NOISE_NS = [("ns1.hostpoint-dns.example", "ns2.hostpoint-dns.example"),
            ("ns-a.example-cloud-dns.example", "ns-b.example-cloud-dns.example"),
            ("ns1.webhost-eu.example", "ns2.webhost-eu.example"),
            "shieldfront"]  # a random pair of *.ns.shieldfront-dns.example
NOISE_IPS = ([f"192.0.2.{n}" for n in range(10, 60, 3)]
             + [f"198.51.100.{n}" for n in range(150, 250, 7)]
             + [f"203.0.113.{n}" for n in range(200, 250, 5)])
SHIELDFRONT_IPS = [f"192.0.2.{n}" for n in range(200, 232, 2)]
NOISE_ISSUERS = [CHEAP_CERTS, CHEAP_CERTS, "Example Trust CA", "Sample Secure Sites CA"]
NOISE_TITLES = ["Welcome to nginx!", "Index of /", None, None]  # None -> "<Words> | Home"
NOISE_MX = ["mx.cloudmail-host.example", None]                   # None -> own mail.<domain>

# Seeds: one per pivot ID. `expect` lists what the one-hop pivot must return.
SEEDS = [
    ("P0101", "maltego.Domain", "calmoriver.test", None,
     ["fernhollow.test", "harborquill.test", "lunarbrisk.test"]),
    ("P0101.001", "maltego.Domain", "meet-gxq.test", "Spaceport Registrar Inc",
     ["meet-rvk.example", "meet-jzt.test", "meetings-join.test"]),
    ("P0101.002", "maltego.Domain", "smeltory.test", "2025-03-24",
     ["anvilex.test", "forgewry.test", "bronzia.test", "alloyix.test"]),
    ("P0101.003", "maltego.Domain", "freecheats-hub.test", "Kestrel Media Group",
     ["gamehacks-zone.example", "aimbot-download.test", "modmenu-free.example"]),
    ("P0101.004", "maltego.Domain", "anvilex.test", "p.kuznets77@inbox-mail.example",
     ["smeltory.test", "cruciba.test", "tempero.test"]),
    ("P0101.010", "maltego.Domain", "calmoriver.test", "dns1.regway-dns.example",
     ["denverloft-art.example", "gildedpane.example", "pebblecrest.test"]),
    ("P0101.011", "maltego.Domain", "adsfeedhub.test", "ns.shieldfront-dns.example",
     ["bannerstack.example", "pixeltally.test", "feedmetrics.example"]),
    ("P0102", "maltego.Domain", "teams-update.test", None,
     ["teams-download.example", "teams-install.invalid"]),
    ("P0102.001", "maltego.Domain", "parcel-notice.invalid", "invalid",
     ["invoice-portal.invalid", "payroll-notice.invalid", "docusafe-sign.invalid"]),
    ("P0102.002", "maltego.Domain", "teams-update.test", "teams-*",
     ["teams-download.example", "teams-meeting-join.test", "teams-web-app.example", "teams-invite.example"]),
    ("P0102.003", "maltego.Domain", "google.meet-gxq.test", "google",
     ["google.meet-rvk.example", "google.meetings-join.test", "google.meet-hqx.invalid"]),
    ("P0102.004", "maltego.Domain", "kvxqa.test", 5,
     ["zorbl.test", "plinq.test", "druxo.test"]),
    ("P0103", "maltego.Domain", "searchbetterdeals.test", None,
     ["findmyanswer-now.example", "quickrecipes-hub.test"]),
    ("P0103.001", "maltego.Domain", "searchbetterdeals.test", "qzvtk.trkbounce.example",
     ["weatherdaily-now.example", "pdfreader-online.test", "lyricsfinder-pro.example"]),
    ("P0103.002", "maltego.Domain", "teams-update.test", "mx1.relaymx.example",
     ["teams-connect.example", "teams-desktop.test", "teams-setup-pro.test"]),
    ("P0103.003", "maltego.Domain", "brightcoastway.test", "203.0.113.66",
     ["silentmapleday.example", "swiftriverlane.test", "deepstonepath.example"]),
    ("P0103.004", "maltego.Domain", "teams-download.example", "kr4k3n.mailbox-mail.example",
     ["teams-update.test", "teams-invite.example"]),
    ("P0103.005", "maltego.IPv4Address", "198.51.100.20", "hosted-by.bulwark-host.example",
     ["198.51.100.23", "198.51.100.27", "198.51.100.31"]),
    ("P0103.006", "maltego.Domain", "parcel-notice.invalid", "ns1.freedns-he.example",
     ["invoice-portal.invalid", "secure-docview.invalid", "acct-verify.invalid"]),
    ("P0103.007", "maltego.Domain", "invoice-portal.invalid", "freedns-he.example",
     ["billing-update.invalid", "filedrop-share.invalid"]),
    ("P0201", "maltego.IPv4Address", "203.0.113.66", "203.0.113.66",
     ["brightcoastway.test", "silentmapleday.example", "goldenfieldtrip.example", "quietharborway.test"]),
    ("P0202", "maltego.IPv4Address", "203.0.113.142", "203.0.113.142",
     ["203.0.113.140", "203.0.113.145", "203.0.113.147"]),
    ("P0203", "maltego.IPv4Address", "198.51.100.20", None,
     ["198.51.100.23", "198.51.100.27", "198.51.100.36"]),
    ("P0203.001", "maltego.IPv4Address", "198.51.100.70", "EXAMPLE-HOSTING-AS",
     ["198.51.100.72", "198.51.100.75", "198.51.100.100"]),
    ("P0203.002", "maltego.IPv4Address", "198.51.100.70", "AS64502",
     ["198.51.100.81", "198.51.100.88", "198.51.100.103"]),
    ("P0203.003", "maltego.IPv4Address", "198.51.100.20", "NL",
     ["198.51.100.27", "198.51.100.41", "203.0.113.145"]),
    ("P0301", "maltego.Domain", "fernhollow.test", CHEAP_CERTS,   # the common free CA: a broad pivot
     ["calmoriver.test", "gildedpane.example", "quartzlane.example"]),
    ("P0302", "maltego.Domain", "pdfconvert-free.test", "convertpdf-now.test",
     ["pdf2word-online.example", "convertpdf-now.test", "pdf-tools-hub.example"]),
    ("P0303", "maltego.Domain", "calmoriver.test", "2025-02-11",
     ["ivorytrend.example", "kelpmeadow.example", "nimbusarch.test"]),
    ("P0401", "maltego.Domain", "sevenzip-get.test", None,
     ["7z-archiver.example", "zipper-download.test", "7zipfiles.test"]),
    ("P0401.001", "maltego.Domain", "shieldpro-gratis.test",
     "ShieldPro 2024 | GRATIS Antivirus, VPN, TuneUp voor alle apparaten",
     ["gratis-antivirus-nl.example", "shieldpro-download.test", "beveilig-pc.example"]),
    ("P0401.002", "maltego.Domain", "sevenzip-get.test", "getIPAddres",
     ["archive-tool-dl.example", "sevenzip-official.example", "extract-pro-download.test"]),
    ("P0401.003", "maltego.URL", "https://kvxqa.test/", "https://cdn.walletsync.example/js/connect-v2.js",
     ["https://zorbl.test/", "https://fenwa.test/", "https://yaxil.test/"]),
    ("P0401.004", "maltego.URL", "https://adsfeedhub.test/ads.php", ADS_PANEL_SHA256,
     ["https://bannerstack.example/ads.php", "https://promoloadr.test/ads.php",
      "https://trafficpulse.example/ads.php"]),
    ("P0401.005", "maltego.Domain", "freecheats-hub.test", "free cheats",
     ["gamehacks-zone.example", "unlockall-tool.test", "spoofer-free.test"]),
    ("P0401.006", "maltego.URL", "https://clickrelay-cdn.example/ads.php", "ads.php",
     ["https://adsfeedhub.test/ads.php", "https://linkfeed-svc.example/ads.php",
      "https://feedmetrics.example/ads.php"]),
    ("P0401.007", "maltego.URL", "https://promoloadr.test/ads.php", 200,
     ["https://pixeltally.test/ads.php", "https://adsnode-cloud.test/ads.php"]),
]

# The quick tour (README): the DTF author's favourite combinations.
# (entity type, value, pivot, the seed's value for it, campaign the step is about)
TOUR = [
    ("maltego.Domain", "calmoriver.test", "P0101.001", "Regway Domains LLC", "GLASSWING"),
    ("maltego.Domain", "calmoriver.test", "P0101.010", "dns1.regway-dns.example", "GLASSWING"),
    ("maltego.IPv4Address", "198.51.100.20", "P0203.002", "AS64501", "GLASSWING"),
    ("maltego.Domain", "sevenzip-get.test", "P0401.001", "Download", "SEVENFOLD"),
    ("maltego.URL", "https://sevenzip-get.test/favicon.ico", "P0401.004", SEVENFOLD_FAVICON_MMH3, "SEVENFOLD"),
    ("maltego.URL", "https://sevenzip-get.test/getfile.php", "P0401.006", "getfile.php", "SEVENFOLD"),
    ("maltego.URL", "https://adsfeedhub.test/ads.php", "P0401.006", "ads.php", "PAPERKITE"),
    ("maltego.Domain", "google.meet-gxq.test", "P0102.003", "google", "FAKEMEET"),
]

# Combinations the tour promises: pivots that, intersected on domains, isolate a campaign.
COMBINATIONS = [
    ("GLASSWING", [("P0101.001", "Regway Domains LLC"), ("P0101.010", "dns1.regway-dns.example"),
                   ("P0203", "AS64501")]),
    ("SEVENFOLD", [("P0401.001", "Download"), ("P0401.004", SEVENFOLD_FAVICON_MMH3),
                   ("P0401.006", "getfile.php")]),
    ("PAPERKITE", [("P0401.006", "ads.php"), ("P0401.007", 200), ("P0203", "AS64502")]),
]

# Pivot tree (DTF matrix): parents run their children.
CHILDREN = {
    "P0101": ["P0101.001", "P0101.002", "P0101.003", "P0101.004", "P0101.010", "P0101.011"],
    "P0102": ["P0102.001", "P0102.002", "P0102.003", "P0102.004"],
    "P0103": ["P0103.001", "P0103.002", "P0103.003", "P0103.004", "P0103.005", "P0103.006", "P0103.007"],
    "P0203": ["P0203.001", "P0203.002", "P0203.003"],
    "P0401": ["P0401.001", "P0401.002", "P0401.003", "P0401.004", "P0401.005", "P0401.006", "P0401.007"],
}
ALL_PIVOTS = ["P0101", *CHILDREN["P0101"], "P0102", *CHILDREN["P0102"], "P0103", *CHILDREN["P0103"],
              "P0201", "P0202", "P0203", *CHILDREN["P0203"], "P0301", "P0302", "P0303",
              "P0401", *CHILDREN["P0401"]]
RESERVED_TLDS = ("example", "test", "invalid")
RESERVED_NETS = [ipaddress.ip_network(n) for n in
                 ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
DATE_MIN, DATE_MAX = "2024-01-01", "2025-12-31"


# --------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------

def as_info(ip: str):
    """(asn, as name, country, ptr) of an address, from AS_TABLE."""
    addr = ipaddress.ip_address(ip)
    for first, last, asn, name, country, ptr in AS_TABLE:
        lo, hi = ipaddress.ip_address(first), ipaddress.ip_address(last)
        if lo.version == addr.version and lo <= addr <= hi:
            dash = ip.replace(".", "-").replace(":", "-")
            return asn, name, country, ptr.format(dash=dash)
    raise ValueError(f"no AS for {ip}")


def ip_sort_key(ip: str):
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr)


def ns_domain(ns_host: str) -> str:
    """The name-server domain: the NS host without its first label."""
    return ns_host.split(".", 1)[1]


def day(value: str) -> date:
    return date.fromisoformat(value)


@dataclass
class Builder:
    """Collects observation records (deduplicated, in insertion order)."""
    records: list = field(default_factory=list)
    _seen: set = field(default_factory=set)
    ip_seen: dict = field(default_factory=dict)  # ip -> (first, last) of its resolutions

    def observe(self, kind, subject, pivot, value, first: date, last: date, rng: random.Random):
        key = (kind, subject, pivot, str(value))
        if key in self._seen:
            return
        self._seen.add(key)
        last_seen = f"{last.isoformat()}T{rng.randrange(24):02d}:{rng.choice((0, 15, 30, 45)):02d}:00Z"
        self.records.append({"kind": kind, "subject": subject, "pivot": pivot, "value": value,
                             "source": SOURCE, "first_seen": first.isoformat(), "last_seen": last_seen})

    def url(self, url: str, host: str):
        key = ("url-host", url)
        if key not in self._seen:
            self._seen.add(key)
            self.records.append({"kind": "url", "subject": url, "host": host})

    def resolve(self, domain, ip, first, last, rng):
        self.observe("domain", domain, "P0103.003", ip, first, last, rng)
        lo, hi = self.ip_seen.get(ip, (first, last))
        self.ip_seen[ip] = (min(lo, first), max(hi, last))

    def emit_ips(self, rng):
        """AS and PTR facts for every address something resolved to."""
        for ip, (first, last) in sorted(self.ip_seen.items(), key=lambda kv: ip_sort_key(kv[0])):
            asn, name, country, ptr = as_info(ip)
            self.observe("ip", ip, "P0203", f"AS{asn}", first, last, rng)
            if asn in RECORD_AS_NUMBER_CHILD:
                self.observe("ip", ip, "P0203.002", f"AS{asn}", first, last, rng)
            self.observe("ip", ip, "P0203.001", name, first, last, rng)
            self.observe("ip", ip, "P0203.003", country, first, last, rng)
            self.observe("ip", ip, "P0103.005", ptr, first, last, rng)


def pick_date(spec, rng: random.Random) -> date:
    if isinstance(spec, tuple):
        lo, hi = day(spec[0]), day(spec[1])
        return lo + timedelta(days=rng.randrange((hi - lo).days + 1))
    return day(spec)


def cycled(values, i):
    if values is None or isinstance(values, str):
        return values
    return values[i % len(values)]


def emit_domain(b: Builder, name: str, p: dict, i: int, rng: random.Random):
    """All records of one registrable domain (and its web host) under profile p."""
    registered = pick_date(p["registered"], rng)
    until = max(day(p["until"]) - timedelta(days=rng.randint(0, 21)), registered + timedelta(days=30))

    def rd(lo, hi):  # a day some time after registration
        return registered + timedelta(days=rng.randint(lo, hi))

    host = f"{p['host']}.{name}" if p.get("host") else name

    # registration (RDAP/WHOIS)
    b.observe("domain", name, "P0101.001", p["registrar"], registered, until, rng)
    b.observe("domain", name, "P0101.002", registered.isoformat(), registered, until, rng)
    if p.get("registrant"):
        b.observe("domain", name, "P0101.003", p["registrant"], registered, until, rng)
    email = p.get("email")
    if email == "privacy":
        email = hashlib.sha1(name.encode()).hexdigest()[:12] + "@privacy-guard.example"
    if email:
        b.observe("domain", name, "P0101.004", email, registered, until, rng)
    ns_pair = cycled(p["ns"], i)
    for ns in ns_pair:
        b.observe("domain", name, "P0101.010", ns, registered, until, rng)
    b.observe("domain", name, "P0101.011", ns_domain(ns_pair[0]), registered, until, rng)

    # DNS
    dns_first = rd(0, 3)
    if p.get("dns_ns"):
        for ns in ns_pair:
            b.observe("domain", name, "P0103.006", ns, dns_first, until, rng)
        b.observe("domain", name, "P0103.007", ns_domain(ns_pair[0]), dns_first, until, rng)
    if p.get("soa"):
        b.observe("domain", name, "P0103.004", p["soa"], dns_first, until, rng)
    for mx in p.get("mx") or []:
        b.observe("domain", name, "P0103.002", mx, dns_first, until, rng)
    if p.get("cname"):
        b.observe("domain", host, "P0103.001", p["cname"], dns_first, until, rng)
    for ip in [cycled(p["ips"], i)] + list(p.get("ipv6") or []):
        b.resolve(host, ip, dns_first, until, rng)

    # TLS
    if p.get("issuer"):
        not_before = pick_date(p["not_before"], rng) if p.get("not_before") else rd(1, 20)
        not_before = max(not_before, registered)
        b.observe("domain", host, "P0301", p["issuer"], not_before, until, rng)
        b.observe("domain", host, "P0303", not_before.isoformat(), not_before, until, rng)
        for group in p.get("san") or []:
            if name in group:
                for san in group:
                    b.observe("domain", host, "P0302", san, not_before, until, rng)

    # HTTP, observed on the site itself
    web_first = rd(3, 25)
    if p.get("title"):
        b.observe("domain", host, "P0401.001", cycled(p["title"], i), web_first, until, rng)
    for marker in p.get("code") or []:
        b.observe("domain", host, "P0401.002", marker, web_first, until, rng)
    for keyword in p.get("keywords") or []:
        b.observe("domain", host, "P0401.005", keyword, web_first, until, rng)

    # HTTP, observed on URLs under the site
    for page in p.get("pages") or []:
        url = f"https://{host}{page['path']}"
        b.url(url, host)
        resource = page["path"].rsplit("/", 1)[1]
        if resource:
            b.observe("url", url, "P0401.006", resource, web_first, until, rng)
        b.observe("url", url, "P0401.007", page["status"], web_first, until, rng)
        for pivot in ("P0401.003", "P0401.004"):
            for value in page.get(pivot, []):
                b.observe("url", url, pivot, value, web_first, until, rng)


def noise_profile(name: str, rng: random.Random, overrides: dict) -> dict:
    """A plausible, unrelated site; `overrides` pins the characteristics a decoy shares."""
    ns = rng.choice(NOISE_NS)
    if ns == "shieldfront":
        a, b = rng.sample(SHIELDFRONT_NS, 2)
        ns = (f"{a}.ns.shieldfront-dns.example", f"{b}.ns.shieldfront-dns.example")
        ips = [rng.choice(SHIELDFRONT_IPS)]
    else:
        ips = [rng.choice(NOISE_IPS)]
    words = re.split(r"[-.]", name)[:-1]
    title = rng.choice(NOISE_TITLES) or " ".join(w.capitalize() for w in words) + " | Home"
    registered = overrides.get("registered") or (date(2024, 1, 2) + timedelta(days=rng.randrange(500))).isoformat()
    until = min(day(registered) + timedelta(days=rng.randint(90, 400)), date(2025, 9, 30))
    p = dict(
        registered=registered, until=until.isoformat(),
        registrar=rng.choice(NOISE_REGISTRARS), registrant=PRIVACY,
        email="privacy" if rng.random() < 0.5 else None,
        ns=[ns], dns_ns=rng.random() < 0.3, ips=ips,
        ipv6=[f"2001:db8:{rng.randrange(1, 0xfff):x}::{rng.randrange(1, 0xff):x}"] if rng.random() < 0.15 else [],
        soa=f"hostmaster.{ns_domain(ns[0])}" if rng.random() < 0.3 else None,
        mx=[rng.choice(NOISE_MX) or f"mail.{name}"] if rng.random() < 0.4 else [],
        issuer=rng.choice(NOISE_ISSUERS), title=title if rng.random() < 0.8 else None,
    )
    p.update(overrides)
    if "ns" in overrides:
        p["ns"] = [overrides["ns"]]
    return p


def noise_names(rng: random.Random, taken: set, count: int) -> list:
    names = []
    while len(names) < count:
        a, b = rng.choice(NOISE_WORDS_A), rng.choice(NOISE_WORDS_B)
        name = f"{a}-{b}.example" if rng.random() < 0.6 else f"{a}{b}.example"
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def generate():
    """Build all records; returns (records, campaign domain sets)."""
    b = Builder()
    members = {}
    for camp in CAMPAIGNS:
        rng = random.Random(f"{RNG_SEED}:{camp['name']}")
        hosts = []
        for i, name in enumerate(camp["domains"]):
            emit_domain(b, name, camp, i, rng)
            hosts.append(f"{camp['host']}.{name}" if camp.get("host") else name)
        members[camp["name"]] = set(camp["domains"]) | set(hosts)

    rng = random.Random(f"{RNG_SEED}:noise")
    taken = {d for m in members.values() for d in m}
    for i, decoy in enumerate(DECOYS):
        overrides = {k: v for k, v in decoy.items() if k != "name"}
        taken.add(decoy["name"])
        emit_domain(b, decoy["name"], noise_profile(decoy["name"], rng, overrides), i, rng)
    for i, name in enumerate(noise_names(rng, taken, NOISE_COUNT)):
        emit_domain(b, name, noise_profile(name, rng, {}), i, rng)

    b.emit_ips(random.Random(f"{RNG_SEED}:ips"))
    return b.records, members


# --------------------------------------------------------------------------
# Independent checker: the pivot semantics, re-implemented plainly
# --------------------------------------------------------------------------

def norm(pivot: str, value) -> str:
    s = str(value).strip().lower().rstrip(".")
    if pivot.startswith("P0203") and s.startswith("as") and s[2:].isdigit():
        s = s[2:]
    return s


def split_domain(name: str):
    """(sub-labels, registrable label, tld): every TLD used here is a single label."""
    labels = name.split(".")
    return labels[:-2], labels[-2], labels[-1]


def name_patterns(name: str) -> set:
    """Substring patterns of a domain: its hyphen/digit-separated tokens of >= 4 chars."""
    _, label, _ = split_domain(name)
    tokens = [t for t in re.split(r"[-0-9]+", label) if len(t) >= 4]
    patterns = {f"*{t}*" for t in tokens}
    if tokens and label.startswith(tokens[0] + "-"):
        patterns.add(f"{tokens[0]}-*")
    return patterns


class Index:
    def __init__(self, records):
        self.vals = defaultdict(lambda: defaultdict(set))   # (kind, subject) -> pivot -> values
        self.url_host = {}
        for r in records:
            if "pivot" in r:
                self.vals[(r["kind"], r["subject"])][r["pivot"]].add(norm(r["pivot"], r["value"]))
            else:
                self.url_host[r["subject"]] = r["host"]

    def subjects(self, kind):
        return {s for (k, s) in self.vals if k == kind}

    def values(self, kind, subject, pivot):
        return self.vals.get((kind, subject), {}).get(pivot, set())

    def sharing(self, kind, pivot, values):
        return {s for s in self.subjects(kind) if self.values(kind, s, pivot) & values}

    def domain_values(self, domain, pivot):
        """Values of a domain including those seen on its URLs and (for AS pivots) its IPs."""
        out = set(self.values("domain", domain, pivot))
        for url, host in self.url_host.items():
            if host == domain:
                out |= self.values("url", url, pivot)
        if pivot.startswith("P0203"):
            for ip in self.values("domain", domain, "P0103.003"):
                out |= self.values("ip", ip, pivot)
        return out

    def seed_values(self, kind, subject, pivot):
        """The characteristic(s) the seed has for a leaf pivot."""
        if pivot.startswith("P0102"):
            subs, label, tld = split_domain(subject)
            return {"P0102.001": {tld}, "P0102.002": name_patterns(subject),
                    "P0102.003": set(subs), "P0102.004": {str(len(label))}}[pivot]
        if pivot in ("P0201", "P0202"):
            return {subject}
        return self.values(kind, subject, pivot)

    def one_hop(self, kind, subject, pivot):
        out = set()
        if pivot in CHILDREN:
            for child in CHILDREN[pivot]:
                out |= self.one_hop(kind, subject, child)
            if pivot != "P0203":  # P0203 is also observed under its own ID
                return out
        mine = self.seed_values(kind, subject, pivot)
        domains = self.subjects("domain")
        if pivot == "P0102.001":
            out |= {d for d in domains if split_domain(d)[2] in mine}
        elif pivot == "P0102.002":
            out |= {d for d in domains
                    if any(fnmatch.fnmatchcase(d, p) or fnmatch.fnmatchcase(split_domain(d)[1], p) for p in mine)}
        elif pivot == "P0102.003":
            out |= {d for d in domains if set(split_domain(d)[0]) & mine}
        elif pivot == "P0102.004":
            out |= {d for d in domains if str(len(split_domain(d)[1])) in mine}
        elif pivot == "P0201":
            out |= self.sharing("domain", "P0103.003", mine)
        elif pivot == "P0202":
            me = ipaddress.ip_address(subject)
            out |= {ip for ip in self.subjects("ip")
                    if ipaddress.ip_address(ip).version == 4
                    and ip.rsplit(".", 1)[0] == subject.rsplit(".", 1)[0]
                    and abs(int(ipaddress.ip_address(ip)) - int(me)) <= 8}
        else:
            out |= self.sharing(kind, pivot, mine)
        out.discard(subject)
        return out


KIND_OF_TYPE = {"maltego.Domain": "domain", "maltego.IPv4Address": "ip", "maltego.URL": "url"}


def check(records, members, seeds, tour):
    ix = Index(records)
    fail = []

    def require(ok, msg):
        if not ok:
            fail.append(msg)

    # reserved names and numbers only, well-formed dates
    domains = ix.subjects("domain")
    for d in domains:
        require(d.rsplit(".", 1)[1] in RESERVED_TLDS, f"non-reserved TLD: {d}")
    for r in records:
        if "pivot" not in r:
            require(r["host"] in domains, f"URL host without records: {r['host']}")
            require(r["subject"].startswith(f"https://{r['host']}/"), f"URL/host mismatch: {r['subject']}")
            continue
        require(DATE_MIN <= r["first_seen"] <= r["last_seen"][:10] <= DATE_MAX, f"bad dates: {r}")
        v = str(r["value"])
        if r["pivot"] in ("P0103.003", "P0201") or r["kind"] == "ip":
            ip = r["value"] if r["pivot"] in ("P0103.003", "P0201") else r["subject"]
            require(any(ipaddress.ip_address(ip) in n for n in RESERVED_NETS), f"non-reserved IP: {ip}")
        if r["pivot"].startswith("P0203") and v.upper().startswith("AS"):
            require(64496 <= int(v[2:]) <= 64511, f"non-reserved ASN: {v}")
        if r["pivot"] == "P0101.004":
            require(v.rsplit(".", 1)[1] in RESERVED_TLDS, f"non-reserved e-mail: {v}")
        if r["pivot"] in ("P0101.002", "P0303"):
            require(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) and DATE_MIN <= v <= DATE_MAX, f"bad date value: {r}")
    for ip in {v for d in domains for v in ix.values("domain", d, "P0103.003")}:
        require(ix.values("ip", ip, "P0203"), f"resolved IP without AS: {ip}")

    # seeds
    require(sorted(s["pivot"] for s in seeds) == sorted(ALL_PIVOTS), "seeds do not cover the 37 pivot IDs")
    for s in seeds:
        kind, pivot = KIND_OF_TYPE[s["type"]], s["pivot"]
        where = f"seed {pivot} ({s['value']})"
        require(s["value"] in ix.subjects(kind), f"{where}: seed has no records")
        require(1 <= len(s["expect"]) <= 5 and s["value"] not in s["expect"], f"{where}: bad expect list")
        if pivot in CHILDREN:
            require(s["value_of_pivot"] is None, f"{where}: a parent's value_of_pivot must be null")
        else:
            require(norm(pivot, s["value_of_pivot"]) in ix.seed_values(kind, s["value"], pivot),
                    f"{where}: seed does not have {s['value_of_pivot']!r}")
        got = ix.one_hop(kind, s["value"], pivot)
        missing = [e for e in s["expect"] if e not in got]
        require(not missing, f"{where}: expected but not returned: {missing}")
        if pivot in ("P0102.004", "P0102.002"):  # hold under either reading of "the name"
            for e in s["expect"]:
                require(not split_domain(e)[0], f"{where}: {e} should have no subdomain labels")
        if pivot == "P0102.004":
            require(all(split_domain(e)[2] == split_domain(s["value"])[2] for e in s["expect"]),
                    f"{where}: expected names should share the seed's TLD")

    # combinations promised by the tour
    for campaign, pivots in COMBINATIONS:
        hit = {d for d in domains if all(norm(p, v) in ix.domain_values(d, p) for p, v in pivots)}
        require(hit == members[campaign], f"combination for {campaign} gives {sorted(hit ^ members[campaign])}")
    for step in tour:
        kind = KIND_OF_TYPE[step["entity"]]
        require(norm(step["pivot"], step["value_of_pivot"]) in ix.seed_values(kind, step["value"], step["pivot"])
                or step["pivot"] in CHILDREN, f"tour step {step['step']}: seed lacks its value")

    if fail:
        sys.exit("demo data check failed:\n  " + "\n  ".join(fail))
    return ix


# --------------------------------------------------------------------------
# Seeds and tour
# --------------------------------------------------------------------------

def describe(ix, members, kind, subject, pivot, campaign, value):
    """One sentence: what the analyst sees after the pivot."""
    got = ix.one_hop(kind, subject, pivot)

    def owner(item):  # the campaign a result belongs to ("" for noise)
        host = ix.url_host.get(item, item)
        for name, m in members.items():
            if host in m or (kind == "ip" and any(item in ix.values("domain", d, "P0103.003") for d in m)):
                return name
        return ""

    what = {"domain": "domains", "ip": "addresses", "url": "URLs"}[kind]
    by_owner = defaultdict(list)
    for item in sorted(got):
        by_owner[owner(item)].append(ix.url_host.get(item, item))
    parts = [f"{len(by_owner.pop(campaign, []))} other {campaign} {what}"]
    noise = by_owner.pop("", [])
    parts += [f"{len(v)} of {name}" for name, v in sorted(by_owner.items())]
    if noise:
        shown = ", ".join(noise[:3]) + (", ..." if len(noise) > 3 else "")
        parts.append(f"{len(noise)} unrelated ({shown})")
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{listing} share {pivot} = {value}."


TOUR_NOTES = {
    3: "Registrar + name server + AS64501 together leave exactly the GLASSWING domains (EX0001).",
    6: "Title + same favicon + resource name together leave exactly the SEVENFOLD sites (EX0004).",
    7: "Add P0401.007 = 200 and P0203 = AS64502 to keep only the PAPERKITE C2 panels (EX0017).",
    8: "A label the actor reuses left of the registered name (EX0013).",
}


def build_tour(ix, members):
    steps = []
    for n, (etype, value, pivot, vop, campaign) in enumerate(TOUR, 1):
        sees = describe(ix, members, KIND_OF_TYPE[etype], value, pivot, campaign, vop)
        if n in TOUR_NOTES:
            sees += " " + TOUR_NOTES[n]
        steps.append(dict(step=n, entity=etype, value=value, pivot=pivot, value_of_pivot=vop, sees=sees))
    return steps


def yaml_scalar(v) -> str:
    return "null" if v is None else (str(v) if isinstance(v, int) else json.dumps(v, ensure_ascii=False))


def campaign_of(ix, members, value):
    """The campaign a seed (domain, URL or resolved IP) belongs to, for a comment."""
    host = value.split("/")[2] if value.startswith("https://") else value
    for name, m in members.items():
        if host in m or any(host in ix.values("domain", d, "P0103.003") for d in m):
            return name
    return ""


def write_seeds(ix, seeds, tour, members):
    out = ["# Demo seeds for the DTF transform pack, generated by demo/make_demo.py: do not edit by hand.",
           "# tour: the README's quick tour. seeds: one per DTF pivot ID; `expect` is a subset of what",
           "# the one-hop pivot from `value` must return (never the seed itself).",
           "tour:"]
    for s in tour:
        out.append(f"  - step: {s['step']}")
        out.append(f"    entity: {s['entity']}")
        out.append(f"    value: {yaml_scalar(s['value'])}")
        out.append(f"    pivot: {s['pivot']}")
        out.append(f"    value_of_pivot: {yaml_scalar(s['value_of_pivot'])}")
        out.append(f"    sees: {yaml_scalar(s['sees'])}")
    out.append("seeds:")
    for s in seeds:
        campaign = campaign_of(ix, members, s["value"])
        out.append(f"  {s['pivot']}:" + (f"  # {campaign}" if campaign else ""))
        out.append(f"    type: {s['type']}")
        out.append(f"    value: {yaml_scalar(s['value'])}")
        out.append(f"    value_of_pivot: {yaml_scalar(s['value_of_pivot'])}")
        out.append("    expect: [" + ", ".join(yaml_scalar(e) for e in s["expect"]) + "]")
    text = "\n".join(out) + "\n"
    loaded = yaml.safe_load(text)  # round trip: what we wrote is what we checked
    assert loaded["tour"] == tour, "tour does not round-trip through YAML"
    assert [dict(pivot=k, **v) for k, v in loaded["seeds"].items()] == seeds, "seeds do not round-trip"
    SEEDS_PATH.write_text(text, encoding="utf-8")


def main():
    records, members = generate()
    seeds = [dict(pivot=p, type=t, value=v, value_of_pivot=vop, expect=exp) for p, t, v, vop, exp in SEEDS]
    ix = Index(records)
    tour = build_tour(ix, members)
    check(records, members, seeds, tour)
    if len(records) > 3000:
        sys.exit(f"too many lines: {len(records)}")
    with JSONL_PATH.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    write_seeds(ix, seeds, tour, members)

    kinds = defaultdict(int)
    for r in records:
        kinds["relation" if "pivot" not in r else r["kind"]] += 1
    print(f"{JSONL_PATH.name}: {len(records)} lines ({dict(kinds)}); "
          f"{len(ix.subjects('domain'))} domains, {len(ix.subjects('ip'))} IPs, {len(ix.url_host)} URLs; "
          f"campaigns: {', '.join(c['name'] for c in CAMPAIGNS)}")
    print(f"{SEEDS_PATH.name}: {len(seeds)} seeds, {len(tour)} tour steps; all expectations hold")


if __name__ == "__main__":
    main()
