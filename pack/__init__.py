"""Maltego import files: the .mtz configuration archives and the TDS CSVs (see pack.export).

Sits above the transform registry and the entity definitions, and reads both.
"""
