"""The one entry point: the WSGI app (`application`, maltego-trx's convention) and the command line.

    python server.py runserver [--host 127.0.0.1] [--port 8080]
    python server.py list [--json]
    python server.py local NAME VALUE [PROPS]
    python server.py import jsonl FILE...
    python server.py demo
    python server.py stats
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cli import commands  # noqa: E402

log = logging.getLogger("dtf")


def _lazy_application():
    from web.app import create_app
    return create_app()


class _LazyWSGI:
    """`server:application` for gunicorn; the store opens on the first request, in the worker."""

    def __init__(self):
        self._app = None

    def __call__(self, environ, start_response):
        if self._app is None:
            self._app = _lazy_application()
        return self._app(environ, start_response)


application = _LazyWSGI()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("DTF_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = commands.build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return args.handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())
