"""Composition root: catalog + store + plugins + engine + the transform registry, in one object.

The web app, local transforms and the CLI each build one `Service` and call `run`.
"""
from __future__ import annotations

import importlib
import logging
import uuid
from functools import partial
from pathlib import Path

from dtf_catalog import Catalog, UnknownPivot, default_catalog
from plugins.registry import build_plugins
from store import Store

from .engine import Engine
from .model import BadRequest, TransformRequest, TransformResponse
from .registry import Registry, build_pivot_specs

log = logging.getLogger("dtf.service")

# Functions (service) -> [TransformSpec with .run set]; adding a family of transforms = one line here.
TRANSFORM_PROVIDERS: list[str] = [
    "transforms.service:pivot_transforms",
    "transforms.catalog_transforms:catalog_transforms",
    "higma.transforms:higma_transforms",
]


def pivot_transforms(service: "Service"):
    """One pivot transform per pivot and input type, plus extract and expand (see registry)."""
    for spec in build_pivot_specs(service.catalog):
        spec.run = partial(service.engine.run, spec)
        yield spec


class Service:
    def __init__(self, store_path: str | Path | None = None, catalog: Catalog | None = None,
                 plugins: list | None = None, deadline: float | None = None):
        self.catalog = catalog or default_catalog()
        self.store = Store(store_path, resolution_pivot=self.catalog.resolution_pivot().id)
        self.plugins = plugins if plugins is not None else build_plugins(self.store, self.catalog)
        self.engine = Engine(self.catalog, self.plugins, recorder=self._record,
                             **({"deadline": deadline} if deadline else {}))
        self.registry = Registry()
        for provider in TRANSFORM_PROVIDERS:
            module_name, _, function_name = provider.partition(":")
            for spec in getattr(importlib.import_module(module_name), function_name)(self):
                self.registry.add(spec)

    def _record(self, observations) -> None:
        """Write-through of what live plugins learned (source = plugin name, seen = now)."""
        try:
            self.store.write_batch(observations)
        except Exception:  # remembering must never fail the analyst's transform
            log.exception("write-through of %d observations failed", len(observations))

    def value_kinds(self) -> dict[str, str]:
        """Pivot ID -> value kind, for importers (parents without a value of their own are absent)."""
        return {p.id: p.value.kind for p in self.catalog.pivots.values() if p.value}

    def run(self, name: str, request: TransformRequest) -> TransformResponse:
        """Run a transform by name; never raises: problems come back as a response error."""
        spec = self.registry.get(name)
        if spec is None:
            return TransformResponse(error=f"no DTF transform named {name!r}; see /transforms.json for the list")
        try:
            return spec.run(request)
        except (BadRequest, UnknownPivot) as exc:
            return TransformResponse(error=f"{spec.display}: {exc}")
        except Exception:  # the analyst gets a reference, the log gets the traceback
            incident = uuid.uuid4().hex[:8]
            log.exception("transform %s failed (incident %s)", name, incident)
            return TransformResponse(error=f"{spec.display}: internal error, logged on the server as incident {incident}")
