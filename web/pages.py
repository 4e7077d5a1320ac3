"""The server's human pages: the DTF matrix at `/`, one page per pivot, tactic and example, and the
downloads (.mtz and TDS CSVs) generated on request for this server's own address.

Plain server-rendered HTML (Jinja templates in web/templates, one stylesheet in web/static); every
fact comes from the catalog, the transform registry and the enabled plugins, never from a list here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, render_template, request

from dtf_catalog import Catalog, Example, Pivot, UnknownPivot
from dtf_catalog.loader import EXAMPLE_ID, PIVOT_ID, TACTIC_ID
from plugins.base import EXPAND, EXTRACT

pages = Blueprint("pages", __name__)

MTZ_NAME = "dtf-maltego.mtz"
HTML = "text/html; charset=utf-8"


def register_pages(app: Flask) -> None:
    """Called by web.app.create_app; the service is read from app.config["DTF_SERVICE"]."""
    app.register_blueprint(pages)


def _service():
    return current_app.config["DTF_SERVICE"]


@pages.app_context_processor
def _catalog_for_every_page() -> dict:
    """The footer of every page names the catalog revision."""
    return {"catalog": _service().catalog}


# ---- views --------------------------------------------------------------------------------------------

@pages.route("/")
def matrix():
    service = _service()
    catalog: Catalog = service.catalog
    columns = [(tactic, tree(catalog, catalog.pivots_of_tactic(tactic.id))) for tactic in catalog.tactics.values()]
    return render_template("matrix.html", catalog=catalog, columns=columns,
                           transform_count=len(service.registry), plugins=[p.name for p in service.plugins],
                           examples_per_pivot={p: len(catalog.examples_using(p)) for p in catalog.pivots},
                           base_url=request.host_url, mtz_name=MTZ_NAME)


@pages.route("/pivot/<ident>")
def pivot_page(ident: str):
    service = _service()
    catalog: Catalog = service.catalog
    pivot = _lookup(catalog.pivot, ident, PIVOT_ID)
    if pivot is None:
        return not_found("pivot", ident)
    transforms = [spec for spec in service.registry if spec.pivot == pivot.id]
    family = {pivot.id, *(p.id for p in descendants(catalog, pivot.id))}
    examples = [(example, values_used(example, family)) for example in catalog.examples.values()
                if family & set(example.pivot_ids)]
    return render_template("pivot.html", catalog=catalog, pivot=pivot, tactic=catalog.tactic(pivot.tactic),
                           parent=catalog.pivot(pivot.parent) if pivot.parent else None,
                           children=catalog.children(pivot.id), transforms=transforms,
                           coverage=plugin_coverage(catalog, service.plugins, pivot), examples=examples)


@pages.route("/tactic/<ident>")
def tactic_page(ident: str):
    service = _service()
    catalog: Catalog = service.catalog
    tactic = _lookup(catalog.tactic, ident, TACTIC_ID)
    if tactic is None:
        return not_found("tactic", ident)
    pivots = catalog.pivots_of_tactic(tactic.id)
    ids = {p.id for p in pivots}
    examples = [e for e in catalog.examples.values() if ids & set(e.pivot_ids)]
    transforms = [spec for spec in service.registry if spec.pivot in ids]
    return render_template("tactic.html", catalog=catalog, tactic=tactic, items=tree(catalog, pivots),
                           examples=examples, transform_count=len(transforms),
                           transform_sets=sorted({spec.set for spec in transforms}))


@pages.route("/example/<ident>")
def example_page(ident: str):
    catalog: Catalog = _service().catalog
    example = _lookup(catalog.example, ident, EXAMPLE_ID)
    if example is None:
        return not_found("example", ident)
    return render_template("example.html", catalog=catalog, example=example)


@pages.route(f"/download/{MTZ_NAME}")
def download_mtz():
    export = pack_export()
    if export is None:
        return unavailable()
    return _attachment(export.mtz_bytes(_service()), "application/zip", MTZ_NAME)


@pages.route("/download/transforms.csv")
def download_transforms_csv():
    export = pack_export()
    if export is None:
        return unavailable()
    return _attachment(export.transforms_csv(_service(), request.host_url).encode("utf-8"), "text/csv", "transforms.csv")


@pages.route("/download/settings.csv")
def download_settings_csv():
    export = pack_export()
    if export is None:
        return unavailable()
    return _attachment(export.settings_csv(_service()).encode("utf-8"), "text/csv", "settings.csv")


# ---- what the templates show --------------------------------------------------------------------------

@dataclass(frozen=True)
class TreeItem:
    pivot: Pivot
    depth: int


@dataclass(frozen=True)
class Coverage:
    plugin: str
    live: bool
    extract: str
    expand: str


def tree(catalog: Catalog, pivots: list[Pivot]) -> list[TreeItem]:
    """Pivots in matrix order: each parent followed by its descendants, with their depth for indenting."""
    ids = {p.id for p in pivots}
    ordered: list[TreeItem] = []

    def add(pivot: Pivot, depth: int) -> None:
        ordered.append(TreeItem(pivot, depth))
        for child in catalog.children(pivot.id):
            if child.id in ids:
                add(child, depth + 1)

    for pivot in pivots:
        if pivot.parent is None or pivot.parent not in ids:
            add(pivot, 0)
    return ordered


def plugin_coverage(catalog: Catalog, plugins: list, pivot: Pivot) -> list[Coverage]:
    """Per enabled plugin, whether it extracts and expands this pivot; a parent without a value of its
    own is served through its children, so it shows how many of them each plugin covers."""
    leaves = catalog.leaves(pivot.id)
    rows = []
    for plugin in plugins:
        capabilities = plugin.capabilities()
        if pivot.value is not None:
            own = capabilities.get(pivot.id, set())
            extract, expand = ("yes" if EXTRACT in own else "no"), ("yes" if EXPAND in own else "no")
        else:
            extract = _share(leaves, capabilities, EXTRACT)
            expand = _share(leaves, capabilities, EXPAND)
        rows.append(Coverage(plugin.name, bool(getattr(plugin, "live", False)), extract, expand))
    return rows


def _share(leaves: list[Pivot], capabilities: dict, ability: str) -> str:
    served = sum(1 for leaf in leaves if ability in capabilities.get(leaf.id, ()))
    return f"{served} of {len(leaves)} children"


def descendants(catalog: Catalog, pivot_id: str) -> list[Pivot]:
    found = []
    for child in catalog.children(pivot_id):
        found += [child, *descendants(catalog, child.id)]
    return found


def values_used(example: Example, pivot_ids: set[str]) -> list[tuple[str, str, object]]:
    """(group name, pivot ID, value) where the example used one of these pivots; value None = no value given."""
    return [(group.name, item.pivot, item.value) for group in example.groups for item in group.pivots
            if item.pivot in pivot_ids]


def pack_export():
    """The pack writer (pack/export.py), imported on first use; None while it is not installed."""
    try:
        return importlib.import_module("pack.export")
    except ModuleNotFoundError as exc:
        if exc.name in ("pack", "pack.export"):
            return None
        raise


# ---- responses ----------------------------------------------------------------------------------------

def _lookup(find, ident: str, pattern):
    """The catalog entry for an ID typed in any case; None when DTF has no such entry."""
    candidate = ident.strip().upper()
    if not pattern.match(candidate):
        return None
    try:
        return find(candidate)
    except UnknownPivot:
        return None


def not_found(what: str, ident: str) -> Response:
    body = render_template("not_found.html", what=what, ident=ident)
    return Response(body, status=404, content_type=HTML)


def unavailable() -> Response:
    body = render_template("unavailable.html")
    return Response(body, status=503, content_type=HTML)


def _attachment(data: bytes, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
