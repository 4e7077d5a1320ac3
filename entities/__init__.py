"""Maltego entity definitions and the type mapping transforms read."""
