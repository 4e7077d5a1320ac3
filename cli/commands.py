"""Builds the argument parser from every command module in this package (adding a command = one file)."""
from __future__ import annotations

import argparse
import importlib
import pkgutil

import cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="server.py", description="DTF transform pack for Maltego")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        if module_info.name.startswith("cmd_"):
            module = importlib.import_module(f"cli.{module_info.name}")
            module.register(subparsers)
    return parser
