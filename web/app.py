"""The Flask application: Maltego's /run/<name> endpoints, hardened, plus small JSON and health routes.

Every answer on /run is Maltego XML with HTTP 200 when the client can act on it: malformed or
hostile bodies, unknown transforms and internal failures included. No HTML error pages.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from entities.types import INPUT_KIND_OF_TYPE
from transforms.maltego_xml import parse_request, render, render_error
from transforms.model import BadRequest
from transforms.service import Service
from web.pages import register_pages

MAX_BODY_BYTES = 1 << 20
XML = "text/xml; charset=utf-8"
log = logging.getLogger("dtf.web")


def create_app(service: Service | None = None) -> Flask:
    service = service or Service()
    app = Flask(__name__)
    app.config["DTF_SERVICE"] = service
    register_pages(app)

    def xml(body: str, status: int = 200) -> Response:
        return Response(body, status=status, content_type=XML)

    @app.route("/run/<name>", methods=["GET", "POST"])
    @app.route("/run/<name>/", methods=["GET", "POST"])
    def run_transform(name: str):
        spec = service.registry.get(name)
        if request.method == "GET":
            if spec is None:
                return xml(render_error(f"no DTF transform named {name!r}"), 404)
            return jsonify(spec.as_json())
        declared = request.content_length
        if declared is not None and declared > MAX_BODY_BYTES:
            return xml(render_error(f"request too large: {declared} bytes (limit {MAX_BODY_BYTES})"))
        body = request.stream.read(MAX_BODY_BYTES + 1)  # raw body whatever the Content-Type
        if len(body) > MAX_BODY_BYTES:
            return xml(render_error(f"request too large (limit {MAX_BODY_BYTES} bytes)"))
        try:
            transform_request = parse_request(body)
        except BadRequest as exc:
            return xml(render_error(str(exc)))
        if spec is not None and not _type_fits(spec.input, transform_request.entity.type):
            return xml(render_error(f"{spec.display} takes a {spec.input}, not a {transform_request.entity.type}"))
        return xml(render(service.run(name, transform_request)))

    @app.route("/healthz")
    def healthz():
        return jsonify({"status": "ok", "transforms": len(service.registry),
                        "catalog_revision": service.catalog.revision,
                        "schema_version": service.store.stats()["schema_version"]})

    @app.route("/transforms.json")
    def transforms_json():
        return jsonify([spec.as_json() for spec in service.registry])

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/run/"):
            return xml(render_error(f"{exc.code} {exc.name}"))
        return jsonify({"error": exc.name, "status": exc.code}), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        if request.path.startswith("/run/"):
            return xml(render_error("internal error; details are in the server log"))
        return jsonify({"error": "internal error"}), 500

    return app


def _type_fits(expected: str, actual: str) -> bool:
    """Maltego sends related types too (an NSRecord for a Domain, IPv6 for IPv4): types carrying the
    same kind of infrastructure fit; refuse only clear mismatches."""
    kind = INPUT_KIND_OF_TYPE.get(expected)
    return expected == actual or (kind is not None and kind == INPUT_KIND_OF_TYPE.get(actual))
