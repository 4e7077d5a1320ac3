"""A small authoritative-style DNS server for tests: UDP and TCP on 127.0.0.1, one ephemeral port.

Built on dnspython's message codec and the standard library's socketservers, so the plugins
under test talk real DNS over real sockets. It answers a zone held in memory the way a recursive
resolver would answer a stub: CNAME chains are followed inside the zone, NXDOMAIN and NODATA
carry the zone's SOA in the authority section. Behaviours a test can switch on: a delay before
every answer, a forced response code (SERVFAIL, REFUSED) or silence for some or all names, and
truncated UDP answers that force the client over to TCP. Every question is counted per
(name, type, transport) so tests can prove what was, or was not, asked.
"""
from __future__ import annotations

import collections
import errno
import socket
import socketserver
import struct
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

IN = dns.rdataclass.IN


def _absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(name.rstrip(".") + ".")


class Zone:
    """Records by (owner, type); owners are absolute dnspython names."""

    def __init__(self):
        self.records: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}

    def add(self, name: str, rdtype: str, *texts: str, ttl: int = 300) -> "Zone":
        owner, kind = _absolute(name), dns.rdatatype.from_text(rdtype)
        rrset = self.records.get((owner, kind))
        if rrset is None:
            rrset = self.records[(owner, kind)] = dns.rrset.RRset(owner, IN, kind)
        for text in texts:
            rrset.add(dns.rdata.from_text(IN, kind, text, origin=dns.name.root, relativize=False), ttl)
        return self

    def soa(self, zone: str, mname: str, rname: str, ttl: int = 300) -> "Zone":
        return self.add(zone, "SOA", f"{mname}. {rname}. 2025010101 7200 3600 1209600 300", ttl=ttl)

    def exists(self, name: dns.name.Name) -> bool:
        return any(owner == name or owner.is_subdomain(name) for owner, _ in self.records)

    def enclosing_soa(self, name: dns.name.Name) -> dns.rrset.RRset | None:
        candidate = name
        while True:
            rrset = self.records.get((candidate, dns.rdatatype.SOA))
            if rrset is not None:
                return rrset
            if candidate == dns.name.root:
                return None
            candidate = candidate.parent()


class DnsTestServer:
    """`with DnsTestServer(zone) as server:` -> server.port serves UDP and TCP on 127.0.0.1."""

    def __init__(self, zone: Zone | None = None):
        self.zone = zone or Zone()
        self.delay = 0.0                         # seconds before every answer
        self.rcode: int | None = None            # forced response code for every question
        self.rcode_for: dict[str, int] = {}      # forced response code per name
        self.silent = False                      # never answer (a dead resolver that still listens)
        self.truncate_udp: set[str] = set()      # names answered over UDP with TC set and no records
        self.queries: collections.Counter = collections.Counter()
        self.errors: list[str] = []              # zone problems met while answering
        self._lock = threading.Lock()
        self._udp = self._tcp = None
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> "DnsTestServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        owner = self

        class UdpHandler(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                reply = owner.answer(data, "udp")
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class TcpHandler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(10)
                while True:
                    header = _read_exactly(self.request, 2)
                    if header is None:
                        return
                    data = _read_exactly(self.request, struct.unpack("!H", header)[0])
                    if data is None:
                        return
                    reply = owner.answer(data, "tcp")
                    if reply is None:
                        return
                    self.request.sendall(struct.pack("!H", len(reply)) + reply)

        for _ in range(50):  # UDP and TCP must share one port number
            udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), UdpHandler)
            port = udp.server_address[1]
            try:
                tcp = socketserver.ThreadingTCPServer(("127.0.0.1", port), TcpHandler)
            except OSError as exc:
                udp.server_close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            break
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        udp.daemon_threads = tcp.daemon_threads = True
        self._udp, self._tcp, self.port = udp, tcp, port
        for server in (udp, tcp):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            if server is not None:
                server.shutdown()
                server.server_close()

    # ---- counting --------------------------------------------------------------------------------

    def count(self, name: str | None = None, rdtype: str | None = None, transport: str | None = None) -> int:
        with self._lock:
            items = list(self.queries.items())
        want = name.rstrip(".").lower() if name else None
        return sum(n for (qname, qtype, how), n in items
                   if (want is None or qname == want) and (rdtype is None or qtype == rdtype)
                   and (transport is None or how == transport))

    def reset_counts(self) -> None:
        with self._lock:
            self.queries.clear()

    # ---- answering -------------------------------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        if not query.question:
            return None
        question = query.question[0]
        qname = question.name.to_text(omit_final_dot=True).lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries[(qname, qtype, transport)] += 1
        if self.delay:
            time.sleep(self.delay)
        if self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        forced = self.rcode_for.get(qname, self.rcode)
        if forced is not None:
            response.set_rcode(forced)
            return response.to_wire()
        if transport == "udp" and qname in self.truncate_udp:
            response.flags |= dns.flags.TC
            return response.to_wire()
        try:
            self._fill(response, question.name.canonicalize(), question.rdtype)
            return response.to_wire(max_size=65535)
        except Exception as exc:  # a broken test zone must show up as such, not as a timeout
            self.errors.append(f"{qname} {qtype}: {exc!r}")
            failure = dns.message.make_response(query)
            failure.set_rcode(dns.rcode.SERVFAIL)
            return failure.to_wire()

    def _fill(self, response: dns.message.Message, name: dns.name.Name, rdtype: int) -> None:
        """Answer records, following CNAMEs inside the zone; NXDOMAIN/NODATA with the zone's SOA."""
        for _ in range(8):
            rrset = self.zone.records.get((name, rdtype))
            if rrset is not None:
                response.answer.append(rrset)
                return
            cname = self.zone.records.get((name, dns.rdatatype.CNAME))
            if cname is None or rdtype == dns.rdatatype.CNAME:
                break
            response.answer.append(cname)
            name = cname[0].target
        if not self.zone.exists(name):
            response.set_rcode(dns.rcode.NXDOMAIN)
        soa = self.zone.enclosing_soa(name)
        if soa is not None:
            response.authority.append(soa)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def cymru_transcript(path) -> list[tuple[str | None, list[tuple[str, str]]]]:
    """(section title, [(query name, TXT answer)]) from the recorded `dig +short` transcript.

    Section [C] lists raw answers without their questions; those come back with a None name.
    """
    sections: list[tuple[str | None, list[tuple[str | None, str]]]] = []
    pending: str | None = None
    for raw in open(path, encoding="utf-8"):
        line = raw.strip()
        if line.startswith("## ["):
            sections.append((line[3:].strip(), []))
            pending = None
        elif line.startswith("$ dig"):
            words = [w for w in line.split()[2:] if w not in ("+short", "TXT")]
            pending = words[0].rstrip(".")
        elif line.startswith('"') and sections:
            sections[-1][1].append((pending, line))
            pending = None
    return sections
