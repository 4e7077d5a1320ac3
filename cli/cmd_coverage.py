"""`coverage`: which plugin serves which pivot (extract and/or expand), and which plugins are enabled.

Every plugin in plugins/registry.py AVAILABLE is listed, enabled or not, so an analyst sees what
turning one on would add. Enabled follows the configuration (dtf.yaml or DTF_CONFIG,
DTF_PLUGINS, DTF_DISABLE_PLUGINS). Plugins are built only to ask their capabilities: no store is
opened and nothing is looked up.

`--json` prints (a contract other tools may rely on):
    {"plugins": [{"name": "dns", "enabled": true, "live": true}, ...],
     "pivots":  [{"id": "P0103.006", "name": "DNS: Name Server",
                  "plugins": {"local": ["extract", "expand"], "dns": ["extract"]}}, ...]}
Plugins keep the registry's order, pivots the catalog's; abilities are ordered extract, expand.
A parent pivot without a value of its own (P0101, P0103, P0401...) lists what serves any of its
children, since its transform runs them. A plugin that cannot be built with its settings gets an
`"error"` key with the reason and serves nothing.
"""
from __future__ import annotations

import json
import sys

ABILITIES = ("extract", "expand")
SHORT = {"extract": "e", "expand": "x"}


def register(subparsers) -> None:
    cmd = subparsers.add_parser("coverage", help="pivot x plugin matrix (extract/expand) and enabled plugins")
    cmd.add_argument("--json", action="store_true", help="machine-readable matrix (shape in the module docstring)")
    cmd.set_defaults(handler=run)


def coverage(catalog, config) -> dict:
    """The matrix as a dict in the documented JSON shape."""
    from plugins.registry import AVAILABLE, plugin_class

    plugins, abilities = [], {}
    for name in AVAILABLE:
        entry = {"name": name, "enabled": name in config.enabled, "live": False}
        try:
            cls = plugin_class(name)
            entry["live"] = bool(getattr(cls, "live", False))
            instance = cls(None, catalog) if name == "local" else cls(catalog, config.for_plugin(name))
            abilities[name] = {pivot: set(found) for pivot, found in instance.capabilities().items()}
        except Exception as exc:  # a broken plugin must not hide the others
            entry["error"] = f"{type(exc).__name__}: {exc}"
            abilities[name] = {}
        plugins.append(entry)
    pivots = []
    for pivot in catalog.pivots.values():
        ids = [pivot.id] if pivot.value else [leaf.id for leaf in catalog.leaves(pivot.id)]
        served = {}
        for name in AVAILABLE:
            found = set().union(*(abilities[name].get(i, set()) for i in ids))
            if found:
                served[name] = [a for a in ABILITIES if a in found]
        pivots.append({"id": pivot.id, "name": pivot.name, "plugins": served})
    return {"plugins": plugins, "pivots": pivots}


def run(args) -> int:
    from dtf_catalog import default_catalog
    from plugins.registry import load_config

    try:
        config = load_config()
    except (ValueError, OSError) as exc:
        print(f"coverage: configuration error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. a dtf.yaml that is not YAML
        print(f"coverage: configuration could not be read: {exc}", file=sys.stderr)
        return 2
    matrix = coverage(default_catalog(), config)
    if args.json:
        print(json.dumps(matrix, indent=1))
        return 0
    print(render_table(matrix))
    return 0


def render_table(matrix: dict) -> str:
    names = [p["name"] for p in matrix["plugins"]]
    width = max(6, *(len(n) + 1 for n in names))
    header = f"{'pivot':<10} {'name':<36} " + "".join(f"{n:<{width}}" for n in names)
    lines = [header, "-" * len(header)]
    for pivot in matrix["pivots"]:
        cells = "".join(f"{''.join(SHORT[a] for a in pivot['plugins'].get(n, [])) or '-':<{width}}" for n in names)
        lines.append(f"{pivot['id']:<10} {pivot['name'][:36]:<36} {cells}")
    lines.append("")
    lines.append("e = extract (indicator -> value), x = expand (value -> indicators)")
    for plugin in matrix["plugins"]:
        state = "enabled" if plugin["enabled"] else "disabled"
        kind = "live" if plugin["live"] else "offline"
        problem = f"  ERROR: {plugin['error']}" if "error" in plugin else ""
        lines.append(f"  {plugin['name']:<{width}} {state:<9} {kind}{problem}")
    live = {p["name"] for p in matrix["plugins"] if p["live"] and "error" not in p}
    uncovered = [p["id"] for p in matrix["pivots"] if not live & set(p["plugins"])]
    if uncovered:
        lines.append(f"pivots no live plugin serves: {', '.join(uncovered)}")
    return "\n".join(lines)
