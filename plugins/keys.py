"""API keys of the keyed sources, in one place: where they come from, and keeping them out of sight.

Where a key comes from, first found wins:
  1. the Maltego request: the global transform setting `global#<service>_api_key` (declared once per
     plugin class through `global_settings`, so the pack's settings.csv carries it; the same name
     without `global#` is accepted too);
  2. the server's environment: `DTF_<SERVICE>_API_KEY`;
  3. the config file: `plugins: {<service>: {api_key: ...}}` in dtf.yaml (the plugin's settings dict).

Keys must never reach logs, messages, exceptions or the store. Every key that is resolved is
remembered (in this process only) so that `redact()` can blank it out of any text, and a logging
filter does the same for the records of urllib3, which logs request URLs (Shodan's key travels in
the query string) at DEBUG level.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading

from .base import Setting

# service name -> how an analyst knows it
SERVICES: dict[str, str] = {
    "urlscan": "urlscan.io",
    "shodan": "Shodan",
    "securitytrails": "SecurityTrails",
}

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4        # shorter strings would blank out ordinary words
_secrets: set[str] = set()
_lock = threading.Lock()

# loggers that print request URLs or headers of outgoing calls
_HTTP_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry",
                 "urllib3.response", "urllib3.poolmanager", "requests")


def setting_name(service: str) -> str:
    return f"{service}_api_key"


def env_name(service: str) -> str:
    return f"DTF_{service.upper()}_API_KEY"


def key_setting(service: str) -> Setting:
    """The Maltego global setting holding the service's key (shown as `global#<service>_api_key`)."""
    return Setting(setting_name(service), f"{SERVICES[service]} API key", "string", "",
                   optional=True, popup=False, global_setting=True)


def resolve(service: str, request_settings: dict, plugin_settings: dict) -> str | None:
    """The key to use for one request, or None when none is configured anywhere."""
    name = setting_name(service)
    for candidate in (request_settings.get(f"global#{name}"), request_settings.get(name),
                      os.environ.get(env_name(service)), plugin_settings.get("api_key")):
        if candidate is not None and str(candidate).strip():
            key = str(candidate).strip()
            remember(key)
            return key
    return None


def how_to_add(service: str) -> str:
    """The one message an analyst sees when a keyed plugin is skipped for lack of a key."""
    return (f"skipped: no {SERVICES[service]} API key. Set the Maltego global transform setting "
            f"global#{setting_name(service)}, or {env_name(service)} in the server's environment, "
            f"or plugins.{service}.api_key in dtf.yaml")


def rejected(service: str, status: int) -> str:
    """The message for a key the service refused (HTTP 401/403), naming where the key is set."""
    return (f"{SERVICES[service]} rejected the API key (HTTP {status}); check the global#{setting_name(service)} "
            f"setting (or {env_name(service)} on the server)")


def fingerprint(key: str | None) -> str:
    """A short, non-reversible tag of a key, so per-key state (pauses, pacing) is kept apart."""
    return hashlib.sha256((key or "").encode("utf-8")).hexdigest()[:12]


# ---- keeping keys out of sight -------------------------------------------------------------------

def remember(secret: str) -> None:
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(secret)
    install_log_filter()


def redact(text: str) -> str:
    """`text` with every known key (raw or URL-encoded) replaced by a marker."""
    if not text:
        return text
    from urllib.parse import quote, quote_plus

    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form in text:
                text = text.replace(form, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message with known keys blanked out (the record is still logged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is left to the logging module to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = RedactingFilter()


def install_log_filter() -> None:
    """Attach the redacting filter to the HTTP libraries' loggers (idempotent).

    Logger filters run only on the logger that creates a record, so each emitting logger gets one.
    """
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
