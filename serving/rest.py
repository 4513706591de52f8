"""The REST front end of :mod:`serving.server`: TF Serving's REST API over the same
:class:`~serving.server.PredictionCore` the gRPC front end uses.

Routes: ``GET /v1/models/M[/versions/V]`` (status), ``GET .../metadata``, ``POST ...:predict``
(columnar ``{"inputs": {name: nested list}}``; strings as ``{"b64": ...}``); ``/labels/L`` in
place of ``/versions/V`` picks a version by label. Errors answer ``{"error": message}`` with
TF Serving's HTTP status for the gRPC code.
"""
from __future__ import annotations

import json
import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from serving.protocol import (HTTP_STATUS, METADATA_FIELD_AFFECT, METADATA_FIELD_SIGNATURES,
                              ServingError, bytes_from_json, invalid_argument, not_found)

log = logging.getLogger(__name__)


class RestHandler(BaseHTTPRequestHandler):
    """One request; ``core`` is set on the subclass :func:`make_rest_server` builds."""

    core = None
    _path = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata|:predict)?$")
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log.debug("rest: " + fmt, *args)

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method):
        try:
            match = self._path.match(self.path)
            if not match:
                raise not_found(f"no such endpoint {self.path}")
            name, version, label, action = match.groups()
            version = int(version) if version else None
            repo = self.core.repository
            if method == "GET" and action is None:
                versions = [version] if version is not None else sorted(repo.versions(name))
                for v in versions:
                    repo.resolve(name, v)
                self._reply(200, {"model_version_status": [
                    {"version": str(v), "state": "AVAILABLE",
                     "status": {"error_code": "OK", "error_message": ""}} for v in versions]})
            elif method == "GET" and action == "/metadata":
                from google.protobuf import json_format
                from tensorflow_serving.apis import get_model_metadata_pb2

                served = repo.resolve(name, version, label)
                sigs = get_model_metadata_pb2.SignatureDefMap()
                for k, v in served.signature_defs.items():
                    sigs.signature_def[k].CopyFrom(v)
                self._reply(200, {"model_spec": {"name": name, "version": str(served.version)},
                                  "metadata": {METADATA_FIELD_SIGNATURES: json_format.MessageToDict(sigs),
                                               METADATA_FIELD_AFFECT: served.metadata}})
            elif method == "POST" and action == ":predict":
                self._reply(200, self._predict(name, version, label))
            else:
                raise not_found(f"no {method} {self.path}")
        except ServingError as exc:
            self._reply(HTTP_STATUS.get(exc.code, 500), {"error": str(exc)})
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a body of the wrong shape
            self._reply(400, {"error": f"malformed request: {type(exc).__name__}: {exc}"})

    def _predict(self, name, version, label):
        core = self.core
        length = int(self.headers.get("Content-Length") or 0)
        if length > core.max_request_bytes:
            self.close_connection = True  # body left unread
            raise invalid_argument(f"request of {length} bytes is over the {core.max_request_bytes} byte limit")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as exc:
            raise invalid_argument(f"request body is not JSON: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), dict):
            raise invalid_argument('body must be {"signature_name": ..., "inputs": {name: nested list}} '
                                   "(the columnar format)")
        served = core.repository.resolve(name, version, label)
        sig_name, fn, specs = core.signature(served, body.get("signature_name"))
        core.check_names(specs, body["inputs"])
        arrays = {}
        for key, value in body["inputs"].items():
            spec = specs[key]
            if spec.dtype.name == "string":
                array = np.asarray([bytes_from_json(v) for v in value], dtype=object)
            else:
                array = np.asarray(value)
                if array.dtype.kind not in "iufb" or (spec.dtype.is_integer and array.dtype.kind == "f"):
                    raise invalid_argument(f"input {key!r} must be {spec.dtype.name} numbers")
                if spec.dtype.is_integer and array.size and (
                        array.min() < spec.dtype.min or array.max() > spec.dtype.max):
                    raise invalid_argument(f"input {key!r} has values outside the {spec.dtype.name} range")
                array = array.astype(spec.dtype.as_numpy_dtype)
            core.check_input(key, spec, spec.dtype.as_datatype_enum, array.shape)
            arrays[key] = array
        outputs = core.run(fn, arrays, body.get("output_filter") or ())
        return {"outputs": {k: v.tolist() for k, v in outputs.items()},
                "model_version": served.version, "signature_name": sig_name}

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


def make_rest_server(core, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server (not started; ``port=0`` picks a free one) answering for ``core``."""
    handler = type("BoundRestHandler", (RestHandler,), {"core": core})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
