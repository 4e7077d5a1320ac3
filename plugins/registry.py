"""Which plugins exist and which are enabled: adding a plugin = one line in `AVAILABLE`.

Configuration, later wins:
  1. a YAML file (`DTF_CONFIG`, default `dtf.yaml` in the checkout) with
     `plugins: {enabled: [local, dns], disabled: [...], <name>: {setting: value}}`;
  2. environment: `DTF_PLUGINS=local,dns` (the enabled list), `DTF_DISABLE_PLUGINS=http,tls`,
     and per-plugin settings as `DTF_<NAME>_<SETTING>` (e.g. `DTF_DNS_SERVERS=127.0.0.1`).
"""
from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger("dtf.plugins")

ROOT = Path(__file__).resolve().parent.parent

# name -> "module:Class"; the order is the order results are merged in
AVAILABLE: dict[str, str] = {
    "local": "plugins.local:LocalPlugin",
    "dns": "plugins.dns:DnsPlugin",
    "cymru": "plugins.cymru:CymruPlugin",
    "tls": "plugins.tls:TlsPlugin",
    "rdap": "plugins.rdap:RdapPlugin",
    "crtsh": "plugins.crtsh:CrtshPlugin",
    "http": "plugins.http:HttpPlugin",
    "urlscan": "plugins.urlscan:UrlscanPlugin",
    "shodan": "plugins.shodan:ShodanPlugin",
    "securitytrails": "plugins.securitytrails:SecurityTrailsPlugin",
}

DEFAULT_ENABLED = tuple(AVAILABLE)


@dataclass
class PluginConfig:
    enabled: list[str]
    settings: dict[str, dict] = field(default_factory=dict)

    def for_plugin(self, name: str) -> dict:
        """Settings of one plugin: file values overridden by DTF_<NAME>_<SETTING> variables."""
        merged = dict(self.settings.get(name) or {})
        prefix = f"DTF_{name.upper()}_"
        for key, value in os.environ.items():
            if key.startswith(prefix):
                merged[key[len(prefix):].lower()] = value
        return merged


def load_config(path: str | Path | None = None) -> PluginConfig:
    path = Path(path or os.environ.get("DTF_CONFIG") or ROOT / "dtf.yaml")
    data = {}
    if path.is_file():
        data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("plugins") or {}
    enabled = list(data.get("enabled") or DEFAULT_ENABLED)
    if os.environ.get("DTF_PLUGINS"):
        enabled = [n.strip() for n in os.environ["DTF_PLUGINS"].split(",") if n.strip()]
    disabled = set(data.get("disabled") or ())
    disabled |= {n.strip() for n in os.environ.get("DTF_DISABLE_PLUGINS", "").split(",") if n.strip()}
    unknown = [n for n in enabled + sorted(disabled) if n not in AVAILABLE]
    if unknown:
        raise ValueError(f"unknown plugin(s) {unknown}; available: {', '.join(AVAILABLE)}")
    settings = {k: v for k, v in data.items() if k not in ("enabled", "disabled") and isinstance(v, dict)}
    return PluginConfig([n for n in enabled if n not in disabled], settings)


def plugin_class(name: str):
    module_name, _, class_name = AVAILABLE[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_plugins(store, catalog, config: PluginConfig | None = None) -> list:
    """Instances of the enabled plugins; each class takes (store, catalog, settings)."""
    config = config or load_config()
    plugins = []
    for name in config.enabled:
        cls = plugin_class(name)
        plugins.append(cls(store, catalog) if name == "local" else cls(catalog, config.for_plugin(name)))
    return plugins


def global_settings() -> list:
    """Maltego global settings (`global#...`) every available plugin declares, e.g. API keys.

    A plugin class lists them in a `global_settings` class attribute of `plugins.base.Setting`s.
    """
    found, seen = [], set()
    for name in AVAILABLE:
        for setting in getattr(plugin_class(name), "global_settings", ()):
            if setting.id not in seen:
                seen.add(setting.id)
                found.append(setting)
    return found
