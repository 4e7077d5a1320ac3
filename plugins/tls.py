"""Live TLS: the certificate a host presents on port 443, read without judging its trust.

A phishing kit's self-signed or expired certificate is exactly what an analyst wants to see, so
the handshake sends SNI (the domain) but validates nothing, and accepts old protocol versions and
weak keys. The certificate is parsed with `cryptography`:
  P0301 issuer organisation (the issuer's O attribute; none when the issuer has no O),
  P0302 SAN DNS names (a wildcard counts as its base name, as the store normalises it),
  P0303 not-before date.
Each answer also carries the certificate's SHA-256 fingerprint as a companion of the `hash` kind
(Finding.shown_as; Maltego shows it as a maltego.Hash): it names the certificate the values came from, and can be looked up
elsewhere (crt.sh, Shodan). It is not a characteristic of the pivot, so it is neither expanded
nor written to the store.

Guarded (plugins.netguard): the domain is resolved once and loopback, private, link-local,
metadata and other non-public addresses are refused; the connection goes to the checked address.
Reserved demo names (.test, .example...) are not looked up at all (see plugins.dns).
Settings: `port` (443), `timeout` (seconds per connection, 5; always cut to the deadline),
`allow_reserved`, and for tests only `allow_loopback`, `dns_servers`, `dns_port`.
A domain without an address gives no findings; refused connections, timeouts and failed
handshakes are PluginErrors that say which address failed and how.
"""
from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from dtf_catalog import Catalog, Pivot

from .base import EXTRACT, Context, Expansion, Finding, PluginError, Subject
from .dns import DEADLINE_MARGIN, setting_bool, setting_float, setting_int
from .netguard import AddressRefused, guard_from_settings
from .parsers import normalised_values
from .parsers.names import is_reserved_name

FINGERPRINT_KIND = "hash"      # shown as the hash subject kind's entity (maltego.Hash)


@dataclass(frozen=True)
class PresentedCertificate:
    issuer_orgs: tuple[str, ...]
    san_names: tuple[str, ...]
    not_before: str
    sha256: str


def read_certificate(der: bytes) -> PresentedCertificate:
    """The pivot values of a DER certificate."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise PluginError(f"the presented certificate could not be parsed ({exc})") from None
    orgs = tuple(a.value for a in cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
                 if isinstance(a.value, str) and a.value.strip())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName))
    except (x509.ExtensionNotFound, ValueError):
        names = ()
    return PresentedCertificate(orgs, names, cert.not_valid_before_utc.strftime("%Y-%m-%d"),
                                cert.fingerprint(hashes.SHA256()).hex())


def permissive_context() -> ssl.SSLContext:
    """A client context that completes the handshake with any certificate the server shows."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():   # old protocol versions on purpose: old kits still run them
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass    # a build without legacy support still reads modern servers
    return context


class TlsPlugin:
    name = "tls"
    live = True

    PIVOTS = ("P0301", "P0302", "P0303")

    def __init__(self, catalog: Catalog, settings: dict | None = None):
        self.catalog = catalog
        settings = dict(settings or {})
        self.port = setting_int(self.name, settings, "port", 443, 1)
        self.timeout = setting_float(self.name, settings, "timeout", 5.0, 0.05)
        self.allow_reserved = setting_bool(self.name, settings, "allow_reserved")
        setting_bool(self.name, settings, "allow_loopback")   # reject a mistyped value early
        self.guard = guard_from_settings(settings)
        self.context = permissive_context()

    def capabilities(self) -> dict[str, set[str]]:
        return {pivot_id: {EXTRACT} for pivot_id in self.PIVOTS}

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        raise PluginError(f"a host's certificate cannot be searched by its {pivot.id} value")

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if subject.kind != "domain" or (is_reserved_name(subject.value) and not self.allow_reserved):
            return []
        certificate = self.fetch(subject.value, ctx)
        if certificate is None:
            return []
        if pivot.id == "P0301":
            raw = certificate.issuer_orgs
        elif pivot.id == "P0302":
            raw = certificate.san_names
        else:
            raw = (certificate.not_before,)
        findings = [Finding(pivot.id, display, key, self.name)
                    for display, key in normalised_values(pivot.value.kind, raw)]
        findings.append(Finding(pivot.id, certificate.sha256, certificate.sha256, self.name,
                                shown_as=FINGERPRINT_KIND))
        return findings

    # ---- the handshake -------------------------------------------------------------------------------

    def fetch(self, host: str, ctx: Context) -> PresentedCertificate | None:
        """The certificate `host` presents, or None when the name has no address."""
        try:
            targets = self.guard.resolve(host, self.port, self._budget(ctx, host))
        except AddressRefused as exc:
            raise PluginError(str(exc)) from None
        except socket.gaierror:
            return None
        except OSError as exc:
            raise PluginError(f"resolving {host} failed: {exc}") from None
        failures = []
        for family, address in targets:
            try:
                return read_certificate(self._handshake(host, family, address, ctx))
            except socket.timeout:
                failures.append(f"{address[0]}:{self.port} timed out")
            except ssl.SSLError as exc:
                failures.append(f"{address[0]}:{self.port} TLS handshake failed ({exc.reason or exc})")
            except ConnectionRefusedError:
                failures.append(f"{address[0]}:{self.port} refused the connection")
            except OSError as exc:
                failures.append(f"{address[0]}:{self.port} {exc.strerror or exc}")
            if ctx.remaining() <= DEADLINE_MARGIN:
                break
        raise PluginError("; ".join(failures) or f"no address of {host} could be tried before the deadline")

    def _handshake(self, host: str, family: int, address: tuple, ctx: Context) -> bytes:
        with socket.socket(family, socket.SOCK_STREAM) as raw:
            raw.settimeout(self._budget(ctx, host))
            raw.connect(address)
            raw.settimeout(self._budget(ctx, host))     # what is left for the handshake
            with self.context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
        if not der:
            raise ssl.SSLError("the server presented no certificate")
        return der

    def _budget(self, ctx: Context, host: str) -> float:
        left = ctx.remaining() - DEADLINE_MARGIN
        if left <= 0:
            raise PluginError(f"deadline reached before reading the certificate of {host}")
        return min(self.timeout, left)
