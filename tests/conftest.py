"""Shared fixtures: a temporary store, the demo-loaded service, and the app on a real socket."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DTF_PLUGINS", "local")   # tests opt into live plugins explicitly
os.environ.setdefault("DTF_CONFIG", str(ROOT / "tests" / "no-config.yaml"))

from support import ServerThread  # noqa: E402

SHARED = ROOT.parent / "shared"
DEMO_FILE = ROOT / "demo" / "demo.jsonl"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present next to the checkout")
    return SHARED


def load_demo(store_path: Path):
    from store.importer import Importer, read_jsonl
    from transforms.service import Service

    service = Service(store_path)
    stats = Importer(service.store, service.value_kinds(), default_source="demo").run(read_jsonl(DEMO_FILE))
    assert stats.rejected == 0, stats.errors
    return service


@pytest.fixture(scope="session")
def demo_service(tmp_path_factory):
    """A Service over a store holding the demo dataset (session-wide; do not write to it)."""
    return load_demo(tmp_path_factory.mktemp("demo") / "demo.sqlite3")


@pytest.fixture(scope="session")
def demo_server(demo_service):
    """The Flask app over the demo store, served on 127.0.0.1 with an ephemeral port."""
    from web.app import create_app

    with ServerThread(create_app(demo_service)) as server:
        yield server


@pytest.fixture()
def empty_service(tmp_path):
    from transforms.service import Service

    return Service(tmp_path / "store.sqlite3")
