"""One benchmark HTTP server process: the DTF app or a bare maltego-trx transform, same settings.

    python bench/serve.py dtf  --store FILE     # the project's Flask app (web.app.create_app)
    python bench/serve.py bare                  # maltego_trx.server's app with one DiscoverableTransform

Both run under werkzeug's threaded server on 127.0.0.1 with an ephemeral port (HTTP/1.1
keep-alive), with per-request access logging off in both, and print `PORT <n>` once
listening. The process serves until killed.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402,F401  (puts the checkout on sys.path, local plugin only)

BARE_NAME = "benchbarephrase"


def bare_app():
    """maltego-trx's own Flask app with one registered transform that returns one Phrase."""
    from maltego_trx import registry
    from maltego_trx.server import app
    from maltego_trx.transform import DiscoverableTransform

    class BenchBarePhrase(DiscoverableTransform):
        """Returns the input value back as a single maltego.Phrase."""

        @classmethod
        def create_entities(cls, request, response):
            response.addEntity("maltego.Phrase", f"seen {request.Value}")

    registry.register_transform_function(BenchBarePhrase)
    assert BARE_NAME in registry.mapping, registry.mapping
    return app


def dtf_app(store: str):
    from transforms.service import Service
    from web.app import create_app

    return create_app(Service(store))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=["dtf", "bare"])
    parser.add_argument("--store", help="store file for the dtf app")
    args = parser.parse_args(argv)
    app = bare_app() if args.app == "bare" else dtf_app(args.store)

    from werkzeug.serving import make_server

    # maltego_trx.server turns on DEBUG logging at import; both servers get the same quiet setup
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {server.socket.getsockname()[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
