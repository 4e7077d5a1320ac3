"""The embedded observation store (SQLite) and its importers."""
from .db import Observation, Row, Store, default_path

__all__ = ["Observation", "Row", "Store", "default_path"]
