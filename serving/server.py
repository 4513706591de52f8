"""A local server speaking TF Serving's gRPC API (and its REST API) for development and tests.

No ``tensorflow_model_server`` binary installs on these machines (DESIGN §3), so this module
implements the parts of ``tensorflow.serving.PredictionService`` (Predict, GetModelMetadata) and
``tensorflow.serving.ModelService`` (GetModelStatus) that the client uses, on the protos from
``tensorflow-serving-api``, over a real gRPC socket. It serves every version found under each
model's base directory (TF Serving's ``<base>/<int version>/`` layout), polls for versions the
exporter or pusher writes later, and keeps serving through bad requests:

* unknown model, version or version label -> ``NOT_FOUND``
* unknown signature or output, missing / extra input, wrong dtype or shape, undecodable tensor,
  request over ``max_request_bytes`` -> ``INVALID_ARGUMENT``

Real TF Serving gives the same codes for these cases, so code written against this server works
unchanged against a ``tensorflow/serving`` container (docs/serving.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import re
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np

from affect_tf import export as export_lib
from serving.client import to_tensor_proto

log = logging.getLogger(__name__)

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
METADATA_FIELD_SIGNATURES = "signature_def"
METADATA_FIELD_AFFECT = "affect_tf_metadata"  # our addition; real TF Serving lacks it


class ServingError(Exception):
    """A request the server refuses; ``code`` is the ``grpc.StatusCode`` to answer with."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


def _invalid(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


class ServedVersion:
    """One loaded SavedModel version: its signatures, input specs and metadata."""

    def __init__(self, name: str, version: int, path: pathlib.Path):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.name, self.version, self.path = name, version, path
        self.loaded = tf.saved_model.load(str(path))
        self.signatures = dict(self.loaded.signatures)
        self.input_specs = {k: fn.structured_input_signature[1] for k, fn in self.signatures.items()}
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
        self.signature_defs = {k: v for k, v in saved.meta_graphs[0].signature_def.items()
                               if not k.startswith("__")}
        self.metadata = export_lib.read_metadata(path)


class ModelRepository:
    """Versions under each ``{name: base_dir}``; :meth:`refresh` loads new and drops removed ones."""

    def __init__(self, models: dict, version_labels: dict | None = None):
        self.version_labels = {name: dict(labels) for name, labels in (version_labels or {}).items()}
        self.base_dirs = {name: pathlib.Path(path) for name, path in models.items()}
        self._versions: dict[str, dict[int, ServedVersion]] = {name: {} for name in models}
        self._failed: dict[pathlib.Path, float] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    def refresh(self) -> None:
        with self._refresh_lock:
            for name, base in self.base_dirs.items():
                found = {}
                if base.is_dir():
                    for p in base.iterdir():
                        # Hidden temp folders of an export in progress are not versions.
                        if p.name.isdigit() and (p / "saved_model.pb").is_file():
                            found[int(p.name)] = p
                current = self._versions[name]
                for version in sorted(set(found) - set(current)):
                    path = found[version]
                    mtime = (path / "saved_model.pb").stat().st_mtime
                    if self._failed.get(path) == mtime:
                        continue  # same broken files as last time; retry when they change
                    try:
                        served = ServedVersion(name, version, path)
                    except Exception as exc:  # a half-copied or corrupt export must not stop us
                        self._failed[path] = mtime
                        log.error("cannot load %s version %d from %s: %s", name, version, path, exc)
                        continue
                    with self._lock:
                        self._versions[name] = {**self._versions[name], version: served}
                    log.info("serving %s version %d from %s", name, version, path)
                removed = set(current) - set(found)
                if removed:
                    with self._lock:
                        self._versions[name] = {v: s for v, s in self._versions[name].items()
                                                if v not in removed}
                    log.info("unloaded %s versions %s", name, sorted(removed))

    def versions(self, name: str) -> dict[int, ServedVersion]:
        if name not in self._versions:
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: model {name!r} is not served "
                               f"(served: {sorted(self._versions)})")
        return self._versions[name]

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> ServedVersion:
        versions = self.versions(name)
        if label:
            labels = self.version_labels.get(name, {})
            if label not in labels:
                raise ServingError(grpc.StatusCode.NOT_FOUND,
                                   f"model {name!r} has no version labelled {label!r} "
                                   f"(labels: {sorted(labels)})")
            version = labels[label]
        if version is None:
            if not versions:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"model {name!r} has no loaded version")
            return versions[max(versions)]
        if version not in versions:
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"model {name!r} has no version {version} (available: {sorted(versions)})")
        return versions[version]


def _check_input(name, spec, dtype_enum, dims, max_bytes):
    import tensorflow as tf

    if dtype_enum != spec.dtype.as_datatype_enum:
        got = tf.dtypes.as_dtype(dtype_enum).name if dtype_enum else "unset"
        raise _invalid(f"input {name!r} must be {spec.dtype.name}, got {got}")
    if not spec.shape.is_compatible_with(dims):
        raise _invalid(f"input {name!r} must have shape {spec.shape.as_list()} "
                       f"(None = any), got {list(dims)}")
    if any(d < 0 for d in dims) or int(np.prod(dims, dtype=np.int64)) * spec.dtype.size > max_bytes:
        raise _invalid(f"input {name!r} of shape {list(dims)} is larger than the "
                       f"{max_bytes} byte request limit")


class PredictionCore:
    """Validation and execution shared by the gRPC and REST front ends."""

    def __init__(self, repository: ModelRepository, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
        self.repository = repository
        self.max_request_bytes = max_request_bytes

    def signature(self, served: ServedVersion, signature_name: str):
        signature_name = signature_name or export_lib.DEFAULT_SIGNATURE
        if signature_name not in served.signatures:
            raise _invalid(f"Serving signature name: {signature_name!r} not found in signature def "
                           f"of {served.name} version {served.version} "
                           f"(has {sorted(served.signatures)})")
        return signature_name, served.signatures[signature_name], served.input_specs[signature_name]

    def check_names(self, specs: dict, given) -> None:
        missing = sorted(set(specs) - set(given))
        extra = sorted(set(given) - set(specs))
        if missing or extra:
            raise _invalid(f"inputs must be exactly {sorted(specs)}; "
                           f"missing {missing}, unexpected {extra}")

    def run(self, fn, arrays: dict, output_filter=()) -> dict:
        import tensorflow as tf

        try:
            outputs = fn(**{k: tf.constant(v) for k, v in arrays.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            # e.g. inputs disagreeing on batch or frame count, an undecodable record
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _invalid(f"the model rejected the inputs: {first_line}") from None
        if output_filter:
            unknown = sorted(set(output_filter) - set(outputs))
            if unknown:
                raise _invalid(f"output_filter names unknown outputs {unknown} (has {sorted(outputs)})")
            outputs = {k: outputs[k] for k in output_filter}
        return {k: v.numpy() for k, v in outputs.items()}


def _array_from_proto(name, proto, spec, max_bytes):
    import tensorflow as tf

    dims = tuple(d.size for d in proto.tensor_shape.dim)
    _check_input(name, spec, proto.dtype, dims, max_bytes)
    try:
        if proto.tensor_content:
            dtype = tf.dtypes.as_dtype(proto.dtype).as_numpy_dtype
            return np.frombuffer(proto.tensor_content, dtype).reshape(dims)
        return tf.make_ndarray(proto)
    except (ValueError, TypeError) as exc:
        raise _invalid(f"cannot decode tensor of shape {list(dims)}: {exc}") from None


def _make_servicers(core: PredictionCore):
    from google.protobuf import struct_pb2
    from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                         model_service_pb2_grpc, predict_pb2,
                                         prediction_service_pb2_grpc)

    def resolve(spec):
        version = spec.version.value if spec.HasField("version") else None
        return core.repository.resolve(spec.name, version, spec.version_label or None)

    def handle(method):
        def wrapper(self, request, context):
            try:
                return method(self, request, context)
            except ServingError as exc:
                context.abort(exc.code, str(exc))
        return wrapper

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        @handle
        def Predict(self, request, context):
            size = request.ByteSize()
            if size > core.max_request_bytes:
                raise _invalid(f"request of {size} bytes is over the {core.max_request_bytes} byte limit")
            served = resolve(request.model_spec)
            sig_name, fn, specs = core.signature(served, request.model_spec.signature_name)
            core.check_names(specs, request.inputs)
            arrays = {}
            for name, proto in request.inputs.items():
                arrays[name] = _array_from_proto(name, proto, specs[name], core.max_request_bytes)
            outputs = core.run(fn, arrays, list(request.output_filter))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = served.name
            response.model_spec.version.value = served.version
            response.model_spec.signature_name = sig_name
            for k, v in outputs.items():
                response.outputs[k].CopyFrom(to_tensor_proto(v))
            return response

        @handle
        def GetModelMetadata(self, request, context):
            fields = list(request.metadata_field)
            if not fields:
                raise _invalid("GetModelMetadataRequest must specify at least one metadata_field")
            unknown = sorted(set(fields) - {METADATA_FIELD_SIGNATURES, METADATA_FIELD_AFFECT})
            if unknown:
                raise _invalid(f"metadata_field {unknown} is not supported; use "
                               f"{METADATA_FIELD_SIGNATURES!r} or {METADATA_FIELD_AFFECT!r}")
            served = resolve(request.model_spec)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = served.name
            response.model_spec.version.value = served.version
            if METADATA_FIELD_SIGNATURES in fields:
                sigs = get_model_metadata_pb2.SignatureDefMap()
                for k, v in served.signature_defs.items():
                    sigs.signature_def[k].CopyFrom(v)
                response.metadata[METADATA_FIELD_SIGNATURES].Pack(sigs)
            if METADATA_FIELD_AFFECT in fields:
                struct = struct_pb2.Struct()
                struct.update(served.metadata)
                response.metadata[METADATA_FIELD_AFFECT].Pack(struct)
            return response

    class ModelService(model_service_pb2_grpc.ModelServiceServicer):
        @handle
        def GetModelStatus(self, request, context):
            spec = request.model_spec
            versions = core.repository.versions(spec.name)
            if spec.HasField("version"):
                core.repository.resolve(spec.name, spec.version.value)
                chosen = [spec.version.value]
            else:
                chosen = sorted(versions)
                if not chosen:
                    raise ServingError(grpc.StatusCode.NOT_FOUND, f"model {spec.name!r} has no version")
            response = get_model_status_pb2.GetModelStatusResponse()
            for v in chosen:
                status = response.model_version_status.add()
                status.version = v
                status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            return response

    return PredictionService(), ModelService(), prediction_service_pb2_grpc, model_service_pb2_grpc


class _RestHandler(BaseHTTPRequestHandler):
    """TF Serving's REST API: GET /v1/models/M[/versions/V][/metadata], POST ...:predict."""

    core: PredictionCore = None
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
        http = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.INVALID_ARGUMENT: 400}
        try:
            match = self._path.match(self.path)
            if not match:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"no such endpoint {self.path}")
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
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"no {method} {self.path}")
        except ServingError as exc:
            self._reply(http.get(exc.code, 500), {"error": str(exc)})

    def _predict(self, name, version, label):
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.core.max_request_bytes:
            self.close_connection = True  # body left unread
            raise _invalid(f"request of {length} bytes is over the {self.core.max_request_bytes} byte limit")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as exc:
            raise _invalid(f"request body is not JSON: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), dict):
            raise _invalid('body must be {"signature_name": ..., "inputs": {name: nested list}} '
                           "(the columnar format)")
        served = self.core.repository.resolve(name, version, label)
        sig_name, fn, specs = self.core.signature(served, body.get("signature_name"))
        self.core.check_names(specs, body["inputs"])
        arrays = {}
        for key, value in body["inputs"].items():
            spec = specs[key]
            if spec.dtype.name == "string":
                array = np.asarray([base64_decode(v) for v in value], dtype=object)
            else:
                array = np.asarray(value)
                if array.dtype.kind not in "iufb" or (spec.dtype.is_integer and array.dtype.kind == "f"):
                    raise _invalid(f"input {key!r} must be {spec.dtype.name} numbers")
                if spec.dtype.is_integer and array.size and (
                        array.min() < spec.dtype.min or array.max() > spec.dtype.max):
                    raise _invalid(f"input {key!r} has values outside the {spec.dtype.name} range")
                array = array.astype(spec.dtype.as_numpy_dtype)
            _check_input(key, spec, spec.dtype.as_datatype_enum, array.shape, self.core.max_request_bytes)
            arrays[key] = array
        outputs = self.core.run(fn, arrays, body.get("output_filter") or ())
        return {"outputs": {k: v.tolist() for k, v in outputs.items()},
                "model_version": served.version, "signature_name": sig_name}

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


def base64_decode(value):
    import base64

    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    raise _invalid('string inputs must be {"b64": "..."} objects')


class LocalModelServer:
    """gRPC (and optionally REST) server for ``{model name: base_dir}``.

    ``port=0`` picks a free port (read ``self.port`` after :meth:`start`). ``poll_seconds`` is how
    often new or removed versions are looked for (TF Serving's ``file_system_poll_wait_seconds``).
    """

    def __init__(self, models: dict, host="127.0.0.1", port=0, rest_port=None, poll_seconds=2.0,
                 max_request_bytes=DEFAULT_MAX_REQUEST_BYTES, max_workers=16, version_labels=None):
        self.repository = ModelRepository(models, version_labels)
        self.core = PredictionCore(self.repository, max_request_bytes)
        self.host, self.poll_seconds = host, poll_seconds
        # The transport accepts up to 4x the limit so an oversized request gets our clear
        # INVALID_ARGUMENT; beyond that gRPC itself answers RESOURCE_EXHAUSTED unread.
        transport_limit = min(4 * max_request_bytes, 2**31 - 1)
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="predict"),
            options=[("grpc.max_receive_message_length", transport_limit),
                     ("grpc.max_send_message_length", transport_limit),
                     ("grpc.so_reuseport", 0)],
        )
        prediction, model, prediction_grpc, model_grpc = _make_servicers(self.core)
        prediction_grpc.add_PredictionServiceServicer_to_server(prediction, self._grpc)
        model_grpc.add_ModelServiceServicer_to_server(model, self._grpc)
        self.port = self._grpc.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot bind gRPC to {host}:{port}")
        self._rest = None
        if rest_port is not None:
            handler = type("RestHandler", (_RestHandler,), {"core": self.core})
            self._rest = ThreadingHTTPServer((host, rest_port), handler)
            self._rest.daemon_threads = True
        self.rest_port = self._rest.server_address[1] if self._rest else None
        self._stop = threading.Event()
        self._threads = []

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "LocalModelServer":
        self.repository.refresh()
        self._grpc.start()
        poller = threading.Thread(target=self._poll, name="version-poll", daemon=True)
        poller.start()
        self._threads.append(poller)
        if self._rest:
            rest = threading.Thread(target=self._rest.serve_forever, name="rest", daemon=True)
            rest.start()
            self._threads.append(rest)
        return self

    def _poll(self):
        while not self._stop.wait(self.poll_seconds):
            try:
                self.repository.refresh()
            except Exception:  # keep polling whatever one scan hit
                log.exception("version poll failed")

    def stop(self, grace: float = 1.0) -> None:
        self._stop.set()
        if self._rest:
            self._rest.shutdown()
            self._rest.server_close()
        self._grpc.stop(grace).wait()

    def wait(self):
        self._grpc.wait_for_termination()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def parse_model_args(values) -> dict:
    """``NAME=BASE_DIR`` strings (or a bare BASE_DIR, named after its folder) -> dict."""
    models = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = pathlib.Path(value).name, value
        if not pathlib.Path(path).is_dir():
            raise SystemExit(f"model base directory {path} does not exist")
        models[name] = path
    return models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+", help="NAME=BASE_DIR (TF Serving layout: BASE_DIR/<version>/)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (TF Serving's default 8500)")
    parser.add_argument("--rest-port", type=int, default=None, help="REST port (TF Serving uses 8501)")
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--max-request-mb", type=float, default=DEFAULT_MAX_REQUEST_BYTES / 2**20)


def serve_from_args(args) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = LocalModelServer(parse_model_args(args.models), args.host, args.port, args.rest_port,
                              args.poll_seconds, int(args.max_request_mb * 2**20))
    server.start()
    print(f"serving {sorted(server.repository.base_dirs)} on grpc {server.target}"
          + (f", rest {args.host}:{server.rest_port}" if server.rest_port else ""), flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    raise SystemExit(serve_from_args(p.parse_args()))
