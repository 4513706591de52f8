"""A local server speaking TF Serving's gRPC API (and, through :mod:`affect_tf.serving.rest`, its REST API)
for development and tests.

No ``tensorflow_model_server`` binary installs on these machines (docs/serving.md), so this module
implements the parts of ``tensorflow.serving.PredictionService`` (Predict, GetModelMetadata) and
``tensorflow.serving.ModelService`` (GetModelStatus) that the client uses, on the protos from
``tensorflow-serving-api``, over a real gRPC socket. It serves every version found under each
model's base directory (TF Serving's ``<base>/<int version>/`` layout), polls for versions the
exporter or pusher writes later, and keeps serving through bad requests:

* unknown model, version or version label -> ``NOT_FOUND``
* unknown signature or output, missing / extra input, wrong dtype or shape, negative or zero
  batch/frame dimension, inputs disagreeing on batch or frame count, NaN or infinite values,
  undecodable tensor or ``SequenceExample``, request over ``max_request_bytes`` ->
  ``INVALID_ARGUMENT``, each with a message naming the input and the problem
* a model answering NaN or infinity -> ``INTERNAL`` (never served as a prediction)

Real TF Serving gives the same codes for these cases, so code written against this server works
unchanged against a ``tensorflow/serving`` container (docs/serving.md).
"""
from __future__ import annotations

import logging
import pathlib
import threading
from concurrent import futures

import grpc
import numpy as np

from affect_tf import export as export_lib
from affect_tf import features as F
from affect_tf import files
from affect_tf import provenance
from affect_tf.serving.protocol import (METADATA_FIELD_AFFECT, METADATA_FIELD_SIGNATURES, ServingError,
                              from_tensor_proto, invalid_argument, not_found, to_tensor_proto)
from affect_tf.serving.rest import DEFAULT_READ_TIMEOUT, make_rest_server

log = logging.getLogger(__name__)

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024


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
                # Hidden temp folders of an export in progress are not versions.
                found = dict(files.version_dirs(base))
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
                    if provenance.trained_on_synthetic_only(served.metadata):
                        log.warning(provenance.SYNTHETIC_ONLY_WARNING.format(
                            model=f"{name} version {version}"))
                removed = set(current) - set(found)
                if removed:
                    with self._lock:
                        self._versions[name] = {v: s for v, s in self._versions[name].items()
                                                if v not in removed}
                    log.info("unloaded %s versions %s", name, sorted(removed))

    def versions(self, name: str) -> dict[int, ServedVersion]:
        if name not in self._versions:
            raise not_found(f"Servable not found for request: model {name!r} is not served "
                            f"(served: {sorted(self._versions)})")
        return self._versions[name]

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> ServedVersion:
        versions = self.versions(name)
        if label:
            labels = self.version_labels.get(name, {})
            if label not in labels:
                raise not_found(f"model {name!r} has no version labelled {label!r} "
                                f"(labels: {sorted(labels)})")
            version = labels[label]
        if version is None:
            if not versions:
                raise not_found(f"model {name!r} has no loaded version")
            return versions[max(versions)]
        if version not in versions:
            raise not_found(f"model {name!r} has no version {version} (available: {sorted(versions)})")
        return versions[version]


class PredictionCore:
    """Validation and execution shared by the gRPC and REST (:mod:`affect_tf.serving.rest`) front ends."""

    def __init__(self, repository: ModelRepository, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
        self.repository = repository
        self.max_request_bytes = max_request_bytes

    def check_input(self, name, spec, dtype_enum, dims) -> None:
        """An input's dtype (a ``DataType`` enum), shape and size against its ``TensorSpec``."""
        import tensorflow as tf

        if any(d < 0 for d in dims):
            raise invalid_argument(f"input {name!r} has a negative dimension in shape {list(dims)}")
        if dtype_enum != spec.dtype.as_datatype_enum:
            got = tf.dtypes.as_dtype(dtype_enum).name if dtype_enum else "unset"
            raise invalid_argument(f"input {name!r} must be {spec.dtype.name}, got {got}")
        if not spec.shape.is_compatible_with(dims):
            raise invalid_argument(f"input {name!r} must have shape {spec.shape.as_list()} "
                                   f"(None = any), got {list(dims)}")
        limit = self.max_request_bytes
        if int(np.prod(dims, dtype=np.int64)) * spec.dtype.size > limit:
            raise invalid_argument(f"input {name!r} of shape {list(dims)} is larger than the "
                                   f"{limit} byte request limit")

    def signature(self, served: ServedVersion, signature_name: str):
        signature_name = signature_name or export_lib.DEFAULT_SIGNATURE
        if signature_name not in served.signatures:
            raise invalid_argument(f"Serving signature name: {signature_name!r} not found in signature "
                                   f"def of {served.name} version {served.version} "
                                   f"(has {sorted(served.signatures)})")
        return signature_name, served.signatures[signature_name], served.input_specs[signature_name]

    def check_names(self, specs: dict, given) -> None:
        missing = sorted(set(specs) - set(given))
        extra = sorted(set(given) - set(specs))
        if missing or extra:
            raise invalid_argument(f"inputs must be exactly {sorted(specs)}; "
                                   f"missing {missing}, unexpected {extra}")

    @staticmethod
    def check_arrays(arrays: dict) -> None:
        """Batch size (axis 0) non-zero and shared by all inputs, and so is the frame count
        (axis 1) of our per-frame features; numbers finite; our exports' ``examples`` parse as
        ``SequenceExample``."""
        from tensorflow.core.example import example_pb2
        from google.protobuf.message import DecodeError

        frame_inputs = {F.FACE, F.LANDMARKS, F.MEL, F.EGEMAPS, F.FACE_MASK, F.AUDIO_MASK}
        for axis, what in ((0, "batch size"), (1, "frame count")):
            sizes = {k: v.shape[axis] for k, v in sorted(arrays.items())
                     if v.ndim > axis and (axis == 0 or k in frame_inputs)}
            if len(set(sizes.values())) > 1:
                raise invalid_argument(f"inputs disagree on the {what} (axis {axis}): {sizes}")
            if 0 in sizes.values():
                raise invalid_argument(f"{what} is 0 (axis {axis}): {sizes}; send at least one")
        for name, array in sorted(arrays.items()):
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                bad = np.argwhere(~np.isfinite(array))[0]
                raise invalid_argument(f"input {name!r} has {int((~np.isfinite(array)).sum())} NaN or "
                                       f"infinite values (first at index {bad.tolist()})")
            if array.dtype.kind in "SO" and name == "examples":  # our export's string input
                for i, value in enumerate(array.ravel()):
                    try:
                        example_pb2.SequenceExample.FromString(value)
                    except (DecodeError, TypeError):
                        raise invalid_argument(f"input {name!r}[{i}] is not a serialized "
                                               "tf.train.SequenceExample") from None

    def run(self, fn, arrays: dict, output_filter=()) -> dict:
        import tensorflow as tf

        self.check_arrays(arrays)
        try:
            outputs = fn(**{k: tf.constant(v) for k, v in arrays.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            # e.g. a SequenceExample without the features the model reads
            raise invalid_argument(f"the model rejected the inputs: {_op_error_cause(exc)}") from None
        if output_filter:
            unknown = sorted(set(output_filter) - set(outputs))
            if unknown:
                raise invalid_argument(f"output_filter names unknown outputs {unknown} "
                                       f"(has {sorted(outputs)})")
            outputs = {k: outputs[k] for k in output_filter}
        outputs = {k: v.numpy() for k, v in outputs.items()}
        for k, v in outputs.items():
            if v.dtype.kind == "f" and not np.isfinite(v).all():
                log.error("the model answered non-finite %r for finite inputs", k)
                raise ServingError(grpc.StatusCode.INTERNAL, f"the model produced NaN or infinite "
                                   f"{k!r} for these inputs; nothing is served")
        return outputs


def _op_error_cause(exc) -> str:
    """The informative line of a TensorFlow op error (``str`` starts with "Graph execution
    error:" and node traces; ``message`` ends with the cause)."""
    text = getattr(exc, "message", None) or str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith(("Graph execution error", "Detected at node",
                                                              "File ", "[[", "Stack trace"))]
    return (causes[-1] if causes else lines[-1] if lines else type(exc).__name__)[:300]


def _array_from_proto(core: PredictionCore, name, proto, spec):
    dims = tuple(d.size for d in proto.tensor_shape.dim)
    core.check_input(name, spec, proto.dtype, dims)
    try:
        return from_tensor_proto(proto)
    except (ValueError, TypeError) as exc:
        raise invalid_argument(f"cannot decode tensor of shape {list(dims)}: {exc}") from None


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
            except Exception as exc:  # noqa: BLE001 (a bug: say so instead of UNKNOWN)
                log.exception("%s failed", method.__name__)
                context.abort(grpc.StatusCode.INTERNAL, f"server error: {type(exc).__name__}: {exc}")
        return wrapper

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        @handle
        def Predict(self, request, context):
            size = request.ByteSize()
            if size > core.max_request_bytes:
                raise invalid_argument(f"request of {size} bytes is over the "
                                       f"{core.max_request_bytes} byte limit")
            served = resolve(request.model_spec)
            sig_name, fn, specs = core.signature(served, request.model_spec.signature_name)
            core.check_names(specs, request.inputs)
            arrays = {}
            for name, proto in request.inputs.items():
                arrays[name] = _array_from_proto(core, name, proto, specs[name])
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
                raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
            unknown = sorted(set(fields) - {METADATA_FIELD_SIGNATURES, METADATA_FIELD_AFFECT})
            if unknown:
                raise invalid_argument(f"metadata_field {unknown} is not supported; use "
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
                    raise not_found(f"model {spec.name!r} has no version")
            response = get_model_status_pb2.GetModelStatusResponse()
            for v in chosen:
                status = response.model_version_status.add()
                status.version = v
                status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            return response

    return PredictionService(), ModelService(), prediction_service_pb2_grpc, model_service_pb2_grpc


class LocalModelServer:
    """gRPC (and optionally REST) server for ``{model name: base_dir}``.

    ``port=0`` picks a free port (read ``self.port`` after :meth:`start`). ``poll_seconds`` is how
    often new or removed versions are looked for (TF Serving's ``file_system_poll_wait_seconds``);
    ``rest_read_timeout`` bounds every read from a REST connection.
    """

    def __init__(self, models: dict, host="127.0.0.1", port=0, rest_port=None, poll_seconds=2.0,
                 max_request_bytes=DEFAULT_MAX_REQUEST_BYTES, max_workers=16, version_labels=None,
                 rest_read_timeout=DEFAULT_READ_TIMEOUT):
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
            self._rest = make_rest_server(self.core, host, rest_port, rest_read_timeout)
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
