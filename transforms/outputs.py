"""What kinds of infrastructure a pivot returns for a given input kind."""
from __future__ import annotations

from dtf_catalog import Pivot


def pivot_output_kinds(pivot: Pivot, input_kind: str) -> frozenset[str]:
    """A pivot returns more of what it started from (a URL also finds domains), unless the pivot
    only yields other kinds (an IP's reverse lookup yields domains)."""
    same = {"url", "domain"} if input_kind == "url" else {input_kind}
    return frozenset(same & set(pivot.outputs) or pivot.outputs)
