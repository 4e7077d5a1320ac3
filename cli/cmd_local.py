"""`local NAME VALUE [PROPS]`: run one transform the way Maltego runs local transforms; XML on stdout."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    cmd = subparsers.add_parser("local", help="run a transform as a Maltego local transform")
    cmd.add_argument("name")
    cmd.add_argument("value")
    cmd.add_argument("props", nargs="?", default="", help="k=v#k2=v2 with \\# \\= \\\\ escapes")
    cmd.add_argument("rest", nargs="*", help=argparse_suppress())
    cmd.set_defaults(handler=run)


def argparse_suppress():
    import argparse
    return argparse.SUPPRESS


def run(args) -> int:
    from transforms.maltego_xml import local_request, render, render_error
    from transforms.model import BadRequest
    from transforms.service import Service

    service = Service()
    spec = service.registry.get(args.name)
    if spec is None:
        sys.stdout.write(render_error(f"no DTF transform named {args.name!r}") + "\n")
        return 0
    try:
        request = local_request(spec.input, args.value, args.props)
    except BadRequest as exc:
        sys.stdout.write(render_error(str(exc)) + "\n")
        return 0
    sys.stdout.write(render(service.run(spec.name, request)) + "\n")
    return 0
