"""Data-source plugins: where answers to pivots come from."""
