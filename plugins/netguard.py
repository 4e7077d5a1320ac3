"""Where live plugins may connect: a guard against server-side request forgery.

A URL the analyst (or a hostile page, redirect or RDAP link) hands us must not make the
server talk to itself, to the LAN or to a cloud metadata service. The guard resolves a host
name once, refuses addresses that are not on the public Internet, and hands back the checked
addresses so the caller connects to exactly those: a second, different DNS answer (rebinding)
never gets a say. Loopback can be allowed for tests; nothing else can.
"""
from __future__ import annotations

import concurrent.futures as futures
import ipaddress
import socket
from dataclasses import dataclass

# Cloud metadata endpoints are link-local already; named so the refusal says what they are.
METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("fd00:ec2::254"),
})

_RESOLVER_POOL = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="dtf-resolve")


class AddressRefused(Exception):
    """The destination is not one a live plugin may reach; the message says why.

    Deliberately not an OSError: HTTP libraries retry and wrap OSErrors, a refusal must stop at once.
    """


def refusal_reason(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
                   allow_loopback: bool = False) -> str | None:
    """Why this address may not be contacted, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return refusal_reason(ip.ipv4_mapped, allow_loopback)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"):
        return "a unique-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "an address that is not publicly routed"
    return None


@dataclass(frozen=True)
class Guard:
    """Resolves and checks destinations.

    `dns_servers` (with `dns_port`) sends the look-ups to those servers through dnspython;
    without them the system resolver answers.
    """
    allow_loopback: bool = False
    dns_servers: tuple[str, ...] = ()
    dns_port: int = 53

    def check_literal(self, host: str) -> None:
        """Refuse an IP literal before any connection is tried (clear message, no DNS)."""
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return
        reason = refusal_reason(ip, self.allow_loopback)
        if reason:
            raise AddressRefused(f"{host} is {reason}; refused")

    def resolve(self, host: str, port: int, timeout: float) -> list[tuple[int, tuple]]:
        """(family, socket address) pairs that may be connected to, resolved exactly once.

        Refused addresses are dropped; if none is left the refusal names the first one.
        """
        host = host.strip("[]")
        addresses = self._lookup(host, timeout)
        allowed, refused = [], []
        for ip in addresses:
            reason = refusal_reason(ip, self.allow_loopback)
            if reason:
                refused.append((ip, reason))
            elif isinstance(ip, ipaddress.IPv6Address):
                allowed.append((socket.AF_INET6, (str(ip), port, 0, 0)))
            else:
                allowed.append((socket.AF_INET, (str(ip), port)))
        if allowed:
            return allowed
        if refused:
            ip, reason = refused[0]
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise AddressRefused(f"{shown} is {reason}; refused")
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")

    def _lookup(self, host: str, timeout: float) -> list:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        if self.dns_servers:
            return self._lookup_dns(host, timeout)
        future = _RESOLVER_POOL.submit(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=max(timeout, 0.05))
        except futures.TimeoutError:
            raise socket.timeout(f"resolving {host} took longer than {timeout:.1f} s") from None
        seen = []
        for family, _, _, _, sockaddr in infos:
            ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
            if ip not in seen:
                seen.append(ip)
        return seen

    def _lookup_dns(self, host: str, timeout: float) -> list:
        import dns.exception
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(self.dns_servers)
        resolver.port = self.dns_port
        resolver.lifetime = max(timeout, 0.05)
        found = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = resolver.resolve(host, rdtype, search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
                continue
            except dns.exception.Timeout:
                raise socket.timeout(f"resolving {host} took longer than {timeout:.1f} s") from None
            found += [ipaddress.ip_address(r.address) for r in answer]
        return found


def guard_from_settings(settings: dict) -> Guard:
    """A Guard from plugin settings: `allow_loopback` (tests only), `dns_servers`, `dns_port`."""
    servers = settings.get("dns_servers") or ()
    if isinstance(servers, str):
        servers = [s.strip() for s in servers.replace(";", ",").split(",") if s.strip()]
    return Guard(allow_loopback=truthy(settings.get("allow_loopback")),
                 dns_servers=tuple(servers), dns_port=int(settings.get("dns_port") or 53))


def truthy(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")
