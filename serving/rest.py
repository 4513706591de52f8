"""The REST front end of :mod:`affect_tf.serving.server`: TF Serving's REST API over the same
:class:`~affect_tf.serving.server.PredictionCore` the gRPC front end uses.

Routes, as TF Serving's ``api_rest.md`` documents them (``[/versions/V|/labels/L]`` optional):

* ``GET /v1/models/M`` -> ``{"model_version_status": [...]}`` (all versions, or the one asked)
* ``GET /v1/models/M/metadata`` -> ``{"model_spec": ..., "metadata": {"signature_def":
  {"signature_def": ...}}}`` in proto-JSON field names (``tensor_shape``, ``method_name``); our
  export's metadata asset rides beside it as ``metadata.affect_tf_metadata``
* ``POST /v1/models/M:predict`` with ``signature_name`` and either the row format
  (``{"instances": [...]}`` -> ``{"predictions": [...]}``) or the columnar one
  (``{"inputs": ...}`` -> ``{"outputs": ...}``); a single input or output may go unnamed;
  strings as ``{"b64": ...}``.

Errors answer ``{"error": message}`` with the HTTP status TF Serving gives the gRPC code. Every
read from a connection has a time limit (``read_timeout``); a ``Content-Length`` that is not a
non-negative number is refused at once, and a body shorter than it when the limit runs out.
"""
from __future__ import annotations

import json
import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from affect_tf.serving.protocol import (HTTP_STATUS, METADATA_FIELD_AFFECT, METADATA_FIELD_SIGNATURES,
                              ServingError, bytes_from_json, invalid_argument, not_found)

log = logging.getLogger(__name__)

DEFAULT_READ_TIMEOUT = 30.0


def _shape_text(spec) -> str:
    return f"{spec.shape.as_list()} (None = any)"


def _ragged_message(name, value, spec) -> str:
    """Where a nested list stops being an array: the depth whose lists differ in length."""
    level, depth = [value], 0
    while level and all(isinstance(v, list) for v in level):
        lengths = sorted({len(v) for v in level})
        if len(lengths) > 1:
            return (f"input {name!r} is ragged: its lists at depth {depth} have lengths {lengths}; "
                    f"expected shape {_shape_text(spec)}")
        level, depth = [x for v in level for x in v], depth + 1
    return (f"input {name!r} mixes numbers and lists at depth {depth}; "
            f"expected shape {_shape_text(spec)}")


def array_from_json(name, value, spec) -> np.ndarray:
    """One input's JSON value -> a numpy array of ``spec``'s dtype, the shape checked first so a
    ragged or empty value is named as such (not as a dtype problem)."""
    if spec.dtype.name == "string":
        values = value if isinstance(value, list) else [value]
        return np.asarray([bytes_from_json(v) for v in values], dtype=object)
    try:
        array = np.asarray(value)
    except ValueError:  # numpy >= 1.24 refuses ragged nested lists
        raise invalid_argument(_ragged_message(name, value, spec)) from None
    if array.dtype == object:
        raise invalid_argument(_ragged_message(name, value, spec))
    if array.size == 0 or not spec.shape.is_compatible_with(array.shape):
        empty = "is empty, " if array.size == 0 else ""
        raise invalid_argument(f"input {name!r} {empty}has shape {list(array.shape)}; expected "
                               f"shape {_shape_text(spec)} with at least one element per axis")
    if array.dtype.kind not in "iufb" or (spec.dtype.is_integer and array.dtype.kind == "f"):
        raise invalid_argument(f"input {name!r} must be {spec.dtype.name} numbers")
    if spec.dtype.is_integer and (array.min() < spec.dtype.min or array.max() > spec.dtype.max):
        raise invalid_argument(f"input {name!r} has values outside the {spec.dtype.name} range")
    return array.astype(spec.dtype.as_numpy_dtype)


def columns_from_body(body, specs: dict) -> tuple[dict, bool]:
    """``({input name: JSON value}, row_format)`` from a predict body in either format."""
    if not isinstance(body, dict):
        raise invalid_argument("the request body must be a JSON object")
    if ("instances" in body) == ("inputs" in body):
        raise invalid_argument("the request body must have exactly one of 'instances' (row format) "
                               "and 'inputs' (columnar format)")
    names = sorted(specs)
    if "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict) and not (len(names) == 1 and names[0] not in inputs
                                             and "b64" in inputs):
            return inputs, False
        if len(names) != 1:
            raise invalid_argument(f"'inputs' must be an object naming the inputs {names}")
        return {names[0]: inputs}, False
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise invalid_argument("'instances' must be a non-empty list (one item per example)")
    named = [isinstance(i, dict) and not (len(names) == 1 and "b64" in i) for i in instances]
    if not any(named):
        if len(names) != 1:
            raise invalid_argument(f"each instance must be an object naming the inputs {names}")
        return {names[0]: instances}, True
    if not all(named):
        raise invalid_argument("instances must all be objects of named inputs, or all bare values")
    keys = set(instances[0])
    for i, instance in enumerate(instances):
        if set(instance) != keys:
            raise invalid_argument(f"instance {i} names inputs {sorted(instance)}, instance 0 "
                                   f"names {sorted(keys)}; every instance needs the same inputs")
    return {k: [instance[k] for instance in instances] for k in keys}, True


def response_body(outputs: dict, row_format: bool) -> dict:
    """TF Serving's predict answer: row format -> ``predictions`` (one object per example, or
    bare values for a single output), columnar -> ``outputs`` (an object, or a bare value)."""
    if row_format:
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values())).tolist()}
        batch = len(next(iter(outputs.values())))
        return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(batch)]}
    if len(outputs) == 1:
        return {"outputs": next(iter(outputs.values())).tolist()}
    return {"outputs": {k: v.tolist() for k, v in outputs.items()}}


class RestHandler(BaseHTTPRequestHandler):
    """One connection; ``core`` and ``timeout`` (every read's limit) are set on the subclass
    :func:`make_rest_server` builds."""

    core = None
    _path = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata|:predict)?$")
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log.debug("rest: " + fmt, *args)

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError as exc:  # the client went away: nothing to answer
            log.debug("rest: cannot answer %s: %s", self.client_address, exc)
            self.close_connection = True

    def _dispatch(self, method):
        try:
            match = self._path.match(self.path.split("?", 1)[0])
            if not match:  # TF Serving: 404 outside /v1/, INVALID_ARGUMENT inside
                bad = invalid_argument if self.path.startswith("/v1/") else not_found
                raise bad(f"Malformed request: {method} {self.path}")
            name, version, label, action = match.groups()
            version = int(version) if version else None
            if method == "GET" and action is None:
                self._reply(200, self._status(name, version, label))
            elif method == "GET" and action == "/metadata":
                self._reply(200, self._metadata(name, version, label))
            elif method == "POST" and action == ":predict":
                self._reply(200, self._predict(name, version, label))
            else:
                raise invalid_argument(f"Malformed request: {method} {self.path}")
        except ServingError as exc:
            self._reply(HTTP_STATUS.get(exc.code, 500), {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 (a bug: say so, keep serving)
            log.exception("rest: %s %s failed", method, self.path)
            self._reply(500, {"error": f"server error: {type(exc).__name__}: {exc}"})

    def _status(self, name, version, label):
        repo = self.core.repository
        if version is None and label is None:
            versions = sorted(repo.versions(name))
            if not versions:
                raise not_found(f"model {name!r} has no version")
        else:
            versions = [repo.resolve(name, version, label).version]
        return {"model_version_status": [
            {"version": str(v), "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}} for v in versions]}

    def _metadata(self, name, version, label):
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        served = self.core.repository.resolve(name, version, label)
        sigs = get_model_metadata_pb2.SignatureDefMap()
        for k, v in served.signature_defs.items():
            sigs.signature_def[k].CopyFrom(v)
        return {"model_spec": {"name": name, "signature_name": "", "version": str(served.version)},
                "metadata": {METADATA_FIELD_SIGNATURES: json_format.MessageToDict(
                                 sigs, preserving_proto_field_name=True),
                             METADATA_FIELD_AFFECT: served.metadata}}

    def _read_body(self) -> bytes:
        core = self.core
        text = self.headers.get("Content-Length")
        if text is None:
            self.close_connection = True
            raise invalid_argument("a predict request needs a Content-Length header")
        if not text.strip().isdigit():
            self.close_connection = True  # the body's end is unknown: read no further
            raise invalid_argument(f"Content-Length {text!r} is not a non-negative number of bytes")
        length = int(text)
        if length > core.max_request_bytes:
            self.close_connection = True  # body left unread
            raise invalid_argument(f"request of {length} bytes is over the {core.max_request_bytes} byte limit")
        try:
            data = self.rfile.read(length)
        except OSError:  # the read's time limit ran out (socket.timeout) or the client left
            data = b""
        if len(data) < length:
            self.close_connection = True
            raise invalid_argument(f"the body ended after {len(data)} of the {length} bytes its "
                                   f"Content-Length announced (waited {self.timeout} s)")
        return data

    def _predict(self, name, version, label):
        core = self.core
        data = self._read_body()
        try:
            body = json.loads(data or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise invalid_argument(f"request body is not JSON: {exc}") from None
        served = core.repository.resolve(name, version, label)
        _, fn, specs = core.signature(served, body.get("signature_name") if isinstance(body, dict) else None)
        columns, row_format = columns_from_body(body, specs)
        core.check_names(specs, columns)
        arrays = {}
        for key, value in columns.items():
            array = array_from_json(key, value, specs[key])
            core.check_input(key, specs[key], specs[key].dtype.as_datatype_enum, array.shape)
            arrays[key] = array
        return response_body(core.run(fn, arrays, body.get("output_filter") or ()), row_format)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


class RestServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A dropped or timed-out connection is routine: one debug line, no traceback."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.debug("rest: connection from %s ended: %s", client_address, exc)
        else:
            log.error("rest: request from %s failed: %s: %s", client_address, type(exc).__name__, exc)


def make_rest_server(core, host: str, port: int, read_timeout: float = DEFAULT_READ_TIMEOUT) -> RestServer:
    """An HTTP server (not started; ``port=0`` picks a free one) answering for ``core``; every
    read from a connection gives up after ``read_timeout`` seconds."""
    handler = type("BoundRestHandler", (RestHandler,), {"core": core, "timeout": read_timeout})
    return RestServer((host, port), handler)
