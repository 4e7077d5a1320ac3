"""Deterministic synthetic observations in the importer's JSONL format, for N subjects.

    python bench/synth.py 100k [-o FILE] [--seed 1]

The world is shaped like the hunting patterns the pivots exist for, at any scale:
- domains (60 % of subjects) come in campaigns of 16 that share a registrar, registrant
  e-mail (or a redacted registrant), two name servers, a registration-date burst, an HTTP title
  and a certificate issuer; neighbouring domains share IP addresses; one in eight is a
  subdomain with a reused label (login., secure., ...); some common values are shared by a huge
  share of the data (a redacted registrant, popular registrars, "Index of /"), as in real data;
- IP addresses (25 %) carry an AS number, AS name and country (and half a PTR name), and sit
  next to each other so proximity pivots find neighbours;
- URLs (15 %) live on the domains, with a URL->host relation, a status code, a resource name
  (ads.php, getfile.php, ...) and, for favicons, a favicon hash shared by the campaign.

Only reserved names and numbers: .test/.example names, 192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24 then 2001:db8::/32 (IPv4's documentation ranges hold 762 hosts), ASNs
64496-64511 and the private-use 4200000000+ range, user-assigned country codes (XA-XZ).
Every name and value is a pure function of the subject's index and the seed, so the latency
benchmark can pick inputs that exist without reading the file.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

CAMPAIGN = 16                 # domains per campaign (shared registration, NS, title...)
NS_SHARE = 2                  # campaigns per name-server pair
DOMAIN_SHARE, IP_SHARE = 60, 25   # percent of subjects; URLs take the rest

_FIRST = ("amber", "birch", "cedar", "delta", "ember", "fable", "glade", "haven", "indigo", "juniper",
          "kestrel", "lumen", "maple", "nimbus", "orchid", "prism", "quartz", "raven", "sable", "tundra",
          "umber", "vapor", "willow", "xenon", "yarrow", "zephyr", "alpine", "beacon", "cobalt", "dune",
          "echo", "falcon")
_SECOND = ("river", "market", "studio", "cloud", "harbor", "forge", "garden", "ledger", "portal", "signal",
           "bridge", "canyon", "mirror", "orbit", "pixel", "relay", "summit", "thread", "vault", "window",
           "anchor", "basket", "circuit", "driver", "engine", "filter", "gazette", "hollow", "island", "jacket",
           "kettle", "lantern")
_LABELS = ("login", "secure", "mail", "portal", "account", "verify", "update", "cdn", "auth", "meet",
           "docs", "support")
_PATHS = ("/ads.php", "/getfile.php", "/favicon.ico", "/login.php", "/index.php")
_STATUS = (200, 200, 200, 200, 302, 404, 403, 500)
_ISSUERS = ("Synth Trust CA", "Example Encrypt R3", "Test Sectigo-like CA", "Placeholder DigiCA",
            "Sample GlobalSign-like CA", "Demo ZeroCert")
_COMMON_TITLES = ("Index of /", "404 Not Found", "Welcome to nginx!", "Just a moment...")
_COUNTRIES = tuple(f"X{chr(c)}" for c in range(ord("A"), ord("Z") + 1))
_EPOCH = dt.date(2022, 1, 1)
_SEEN_END = dt.date(2025, 6, 1)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


class World:
    """Names and values of subject i (domains), j (IPs) and k (URLs) for a given size and seed."""

    def __init__(self, subjects: int, seed: int = 1):
        if subjects < 3:
            raise ValueError("at least 3 subjects (one domain, one IP, one URL)")
        self.subjects, self.seed = subjects, seed
        self.domains = max(1, subjects * DOMAIN_SHARE // 100)
        self.ips = max(1, subjects * IP_SHARE // 100)
        self.urls = max(1, subjects - self.domains - self.ips)
        rng = random.Random(seed)
        self.first = list(_FIRST)
        self.second = list(_SECOND)
        rng.shuffle(self.first)
        rng.shuffle(self.second)
        self.registrars = [f"Synth {w.title()} Registrar {n:02d} LLC" for n, w in enumerate(self.first[:20])]
        self.salt = rng.randrange(1 << 30)

    # ---- names -----------------------------------------------------------------------------

    def domain(self, i: int) -> str:
        """Domain i: a word pair plus a unique tag; one in eight sits under a reused label."""
        campaign = i // CAMPAIGN
        base = (f"{self.first[campaign % len(self.first)]}{self.second[(campaign // 7) % len(self.second)]}"
                f"-{_base36(i)}.{'test' if i % 3 else 'example'}")
        return f"{_LABELS[campaign % len(_LABELS)]}.{base}" if i % 8 == 5 else base

    def ip(self, j: int) -> str:
        if j < 762:
            net, host = divmod(j, 254)
            return f"{('192.0.2', '198.51.100', '203.0.113')[net]}.{host + 1}"
        j -= 762
        return f"2001:db8:{j // 4096 + 1:x}::{j % 4096 + 1:x}"

    def url(self, k: int) -> str:
        path = _PATHS[k % len(_PATHS)]
        if path == "/index.php":
            path = f"/index.php?id={k}"
        return f"https://{self.domain(self.url_host(k))}{path}"

    def url_host(self, k: int) -> int:
        return k * self.domains // self.urls

    def ip_of_domain(self, i: int) -> int:
        return i * self.ips // self.domains

    # ---- shared characteristics -------------------------------------------------------------

    def _mix(self, n: int) -> int:
        return ((n + self.salt) * 2654435761) & 0xFFFFFFFF

    def registrar(self, campaign: int) -> str:
        h = self._mix(campaign)
        # a few registrars hold most of the data, as in reality
        return self.registrars[(h % 4) if h % 3 else (h >> 8) % len(self.registrars)]

    def ns_domain(self, campaign: int) -> str:
        return f"ns-{_base36(campaign // NS_SHARE)}.hosting.example"

    def email(self, campaign: int) -> str | None:
        if self._mix(campaign) % 3 == 0:
            return None  # redacted: the registrant is "Redacted for Privacy"
        return f"admin{_base36(campaign)}@{self.first[campaign % 11]}-mail.example"

    def reg_date(self, i: int) -> str:
        campaign = i // CAMPAIGN
        day = (self._mix(campaign) % 1100) + (i % 3)
        return (_EPOCH + dt.timedelta(days=day)).isoformat()

    def title(self, campaign: int) -> str:
        h = self._mix(campaign * 31 + 7)
        if h % 10 == 0:
            return _COMMON_TITLES[(h >> 4) % len(_COMMON_TITLES)]
        return f"{self.first[campaign % 32].title()} {self.second[(campaign // 3) % 32].title()} Portal {_base36(campaign)}"

    def asn(self, j: int) -> int:
        return 64496 + j // 64 if j < 762 else 4200000000 + j // 256

    def favicon(self, campaign: int) -> int:
        return self._mix(campaign * 131 + 3) - (1 << 31)

    # ---- output ---------------------------------------------------------------------------------

    def lines(self):
        """JSONL lines (str, with newline) for every subject, domains first, then IPs, then URLs."""
        seen_end = _SEEN_END
        for i in range(self.domains):
            campaign = i // CAMPAIGN
            name = self.domain(i)
            reg = self.reg_date(i)
            last = f"{(seen_end - dt.timedelta(days=i % 60)).isoformat()}T{i % 24:02d}:00:00Z"
            tail = f', "source": "synth", "first_seen": "{reg}", "last_seen": "{last}"}}\n'
            head = f'{{"kind": "domain", "subject": "{name}", "pivot": '
            yield f'{head}"P0101.001", "value": "{self.registrar(campaign)}"{tail}'
            yield f'{head}"P0101.002", "value": "{reg}"{tail}'
            email = self.email(campaign)
            if email:
                yield f'{head}"P0101.004", "value": "{email}"{tail}'
            else:
                yield f'{head}"P0101.003", "value": "Redacted for Privacy"{tail}'
            ns = self.ns_domain(campaign)
            yield f'{head}"P0101.010", "value": "ns1.{ns}"{tail}'
            yield f'{head}"P0101.010", "value": "ns2.{ns}"{tail}'
            yield f'{head}"P0101.011", "value": "{ns}"{tail}'
            yield f'{head}"P0103.003", "value": "{self.ip(self.ip_of_domain(i))}"{tail}'
            yield f'{head}"P0401.001", "value": "{self.title(campaign)}"{tail}'
            yield f'{head}"P0301", "value": "{_ISSUERS[self._mix(campaign) % len(_ISSUERS)]}"{tail}'
            if i % 4 == 0:
                yield f'{head}"P0103.002", "value": "mx.{ns}"{tail}'
        for j in range(self.ips):
            address = self.ip(j)
            asn = self.asn(j)
            head = f'{{"kind": "ip", "subject": "{address}", "pivot": '
            tail = f', "source": "synth", "last_seen": "{(seen_end - dt.timedelta(days=j % 30)).isoformat()}"}}\n'
            yield f'{head}"P0203", "value": "AS{asn}"{tail}'
            yield f'{head}"P0203.001", "value": "SYNTH-NET-{asn}"{tail}'
            yield f'{head}"P0203.003", "value": "{_COUNTRIES[asn % len(_COUNTRIES)]}"{tail}'
            if j % 2 == 0:
                yield f'{head}"P0103.005", "value": "host-{_base36(j)}.ptr.example"{tail}'
        for k in range(self.urls):
            host_index = self.url_host(k)
            campaign = host_index // CAMPAIGN
            address = self.url(k)
            head = f'{{"kind": "url", "subject": "{address}", '
            tail = ', "source": "synth"}\n'
            yield f'{head}"host": "{self.domain(host_index)}"}}\n'
            yield f'{head}"pivot": "P0401.007", "value": "{_STATUS[k % len(_STATUS)]}"{tail}'
            resource = _PATHS[k % len(_PATHS)].lstrip("/")
            yield f'{head}"pivot": "P0401.006", "value": "{resource}"{tail}'
            if resource == "favicon.ico":
                yield f'{head}"pivot": "P0401.004", "value": "{self.favicon(campaign)}"{tail}'


def generate(subjects: int, path: Path, seed: int = 1) -> int:
    """Write the dataset for `subjects` to `path` (atomically); returns the number of lines."""
    world = World(subjects, seed)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with open(partial, "w", encoding="ascii", buffering=1 << 20) as out:
        chunk = []
        for line in world.lines():
            chunk.append(line)
            if len(chunk) >= 10000:
                out.write("".join(chunk))
                count += len(chunk)
                chunk = []
        out.write("".join(chunk))
        count += len(chunk)
    partial.replace(path)
    return count


def main(argv=None) -> int:
    from common import human_count, parse_count, table, write_result

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("subjects", type=parse_count, help="number of subjects, e.g. 10k, 1M")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default bench/results/data/...)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from common import DATA
    output = args.output or DATA / f"synth-{human_count(args.subjects)}-s{args.seed}.jsonl"
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    lines = generate(args.subjects, output, args.seed)
    seconds = time.perf_counter() - started
    world = World(args.subjects, args.seed)
    row = [human_count(args.subjects), world.domains, world.ips, world.urls, lines,
           round(output.stat().st_size / 1e6, 1), seconds, lines / seconds]
    print(table(["subjects", "domains", "ips", "urls", "lines", "MB", "seconds", "lines/s"], [row],
                title=f"synthetic dataset -> {output}"))
    write_result("synth", {"subjects": args.subjects, "seed": args.seed, "file": str(output),
                           "domains": world.domains, "ips": world.ips, "urls": world.urls,
                           "lines": lines, "bytes": output.stat().st_size, "seconds": seconds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
