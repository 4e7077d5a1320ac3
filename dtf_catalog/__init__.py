"""DTF as data: tactics, pivots and examples from catalog.yaml."""
from .loader import (Catalog, CatalogError, Example, Pivot, Tactic, UnknownPivot, default_catalog, load)

__all__ = ["Catalog", "CatalogError", "Example", "Pivot", "Tactic", "UnknownPivot", "default_catalog", "load"]
