"""`runserver`: serve the transforms over HTTP (loopback unless told otherwise)."""
from __future__ import annotations


def register(subparsers) -> None:
    cmd = subparsers.add_parser("runserver", help="serve transforms on http://HOST:PORT/run/<name>/")
    cmd.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, never 0.0.0.0 unless asked)")
    cmd.add_argument("--port", type=int, default=8080)
    cmd.add_argument("--threads", type=int, default=8, help="worker threads (waitress-like threaded server)")
    cmd.set_defaults(handler=run)


def run(args) -> int:
    from werkzeug.serving import make_server

    from web.app import create_app

    app = create_app()
    service = app.config["DTF_SERVICE"]
    server = make_server(args.host, args.port, app, threaded=True)
    port = server.socket.getsockname()[1]
    print(f"DTF transform server: {len(service.registry)} transforms, store {service.store.path}")
    print(f"  matrix and downloads: http://{args.host}:{port}/")
    print(f"  transforms:           http://{args.host}:{port}/run/<name>/   (list: python server.py list)")
    print("  Ctrl-C stops it.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
