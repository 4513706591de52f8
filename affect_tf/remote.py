"""The gRPC client of TF Serving's API (``tensorflow-serving-api`` protos), and what it shares
with the serving layer: the error type, the metadata field names, arrays as ``TensorProto``.

It lives in the core so that :func:`affect_tf.load_model` can reach a served model without
importing the outer ``serving`` package, which builds its server and REST client on this.
The same client talks to a ``tensorflow/serving`` container and to ``affect_tf.serving.server``.
Calls have a deadline, are retried with exponential backoff while the server is ``UNAVAILABLE``
(starting, restarting, not reachable yet) by gRPC's own retry policy (its service config), and
fail with :class:`ServingError`, which names the call, the model and the server and carries the
gRPC status code.
"""
from __future__ import annotations

import json
import time

import grpc
import numpy as np

from affect_tf import export as export_lib
from affect_tf import features as F

# GetModelMetadata fields: TF Serving's own, and ours (the export's metadata asset; real TF
# Serving answers INVALID_ARGUMENT for it).
METADATA_FIELD_SIGNATURES = "signature_def"
METADATA_FIELD_AFFECT = "affect_tf_metadata"


class ServingError(RuntimeError):
    """A failed or refused serving call; ``code`` is the ``grpc.StatusCode`` (REST statuses are
    mapped to one)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code

    def __reduce__(self):  # pickle (e.g. across Beam or multiprocessing workers) keeps the code
        return type(self), (self.code, str(self))


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def to_tensor_proto(array):
    """numpy array -> ``TensorProto`` (raw ``tensor_content`` for numbers; bytes for strings)."""
    import tensorflow as tf

    array = np.asarray(array)
    if array.dtype.kind in "SUO":
        return tf.make_tensor_proto(array)
    array = np.ascontiguousarray(array)
    proto = tf.make_tensor_proto([], dtype=tf.dtypes.as_dtype(array.dtype))
    proto.ClearField("tensor_shape")
    for d in array.shape:
        proto.tensor_shape.dim.add().size = d
    proto.tensor_content = array.tobytes()
    return proto


def from_tensor_proto(proto) -> np.ndarray:
    import tensorflow as tf

    return tf.make_ndarray(proto)


DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# gRPC treats a retry policy's maxAttempts above 5 as 5 (gRFC A6).
GRPC_MAX_ATTEMPTS = 5
_SERVICES = ("tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")


def retry_service_config(attempts: int, backoff: float) -> dict:
    """gRPC service config making up to ``attempts`` tries of every TF Serving call while the
    server answers ``UNAVAILABLE``, the n-th retry after a random delay of at most
    ``backoff * 2**(n-1)`` seconds. Empty (no retries) for one attempt."""
    if attempts < 2:
        return {}
    return {"methodConfig": [{
        "name": [{"service": service} for service in _SERVICES],
        "retryPolicy": {
            "maxAttempts": attempts,
            "initialBackoff": f"{backoff:.6f}s",
            "maxBackoff": f"{backoff * 2 ** (attempts - 2):.6f}s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }]}


class ServingClient:
    """gRPC client for one model: ``predict``, ``get_metadata``, ``get_status``.

    >>> client = ServingClient("127.0.0.1:8500", "affect")
    >>> out = client.predict({"face": faces_uint8, ...})   # {"valence": (B, T), ...}
    """

    def __init__(self, target: str, model_name: str = F.MODEL_NAME, timeout: float = 10.0,
                 retries: int = 3, backoff: float = 0.2,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.target, self.model_name, self.timeout = target, model_name, timeout
        self.attempts = max(1, min(retries + 1, GRPC_MAX_ATTEMPTS))
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.enable_retries", int(self.attempts > 1)),
            ("grpc.service_config", json.dumps(retry_service_config(self.attempts, backoff))),
        ])
        self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._model_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _spec(self, spec, version, version_label, signature=None):
        spec.name = self.model_name
        if version is not None:
            spec.version.value = int(version)
        elif version_label:
            spec.version_label = version_label
        if signature:
            spec.signature_name = signature

    def _call(self, what, method, request, timeout):
        try:
            return method(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            unavailable = code == grpc.StatusCode.UNAVAILABLE
            tried = f" (retry policy: {self.attempts - 1} retries at most)" if unavailable else ""
            raise ServingError(code, f"{what} for model {self.model_name!r} at {self.target} failed: "
                                     f"{code.name}: {exc.details()}{tried}") from None

    def predict(self, inputs: dict, signature: str = export_lib.DEFAULT_SIGNATURE,
                version: int | None = None, version_label: str | None = None,
                output_filter=(), timeout: float | None = None) -> dict:
        """``{output name: numpy array}`` for ``{input name: array}``; arrays keep their dtype."""
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, version, version_label, signature)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(to_tensor_proto(value))
        request.output_filter.extend(output_filter)
        response = self._call("Predict", self._predict_stub.Predict, request, timeout)
        self.last_model_version = response.model_spec.version.value
        return {k: from_tensor_proto(v) for k, v in response.outputs.items()}

    def predict_sequence_examples(self, serialized, **kwargs) -> dict:
        """Predict from serialized ``SequenceExample`` records (the records' schema)."""
        return self.predict({"examples": np.asarray(list(serialized), dtype=object)},
                            signature=export_lib.SEQUENCE_EXAMPLE_SIGNATURE, **kwargs)

    def get_metadata(self, version: int | None = None, version_label: str | None = None,
                     timeout: float | None = None) -> dict:
        """``{"version", "signature_def" (SignatureDefMap), "metadata" (dict)}``.

        ``metadata`` comes from the export's metadata asset; real TF Serving only answers
        ``signature_def``, so against it ``metadata`` is ``{}``.
        """
        from google.protobuf import json_format, struct_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        def request_for(fields):
            request = get_model_metadata_pb2.GetModelMetadataRequest()
            self._spec(request.model_spec, version, version_label)
            request.metadata_field.extend(fields)
            return request

        try:
            response = self._call("GetModelMetadata", self._predict_stub.GetModelMetadata,
                                  request_for([METADATA_FIELD_SIGNATURES, METADATA_FIELD_AFFECT]), timeout)
        except ServingError as exc:
            if exc.code != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            response = self._call("GetModelMetadata", self._predict_stub.GetModelMetadata,
                                  request_for([METADATA_FIELD_SIGNATURES]), timeout)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[METADATA_FIELD_SIGNATURES].Unpack(signatures)
        metadata = {}
        if METADATA_FIELD_AFFECT in response.metadata:
            struct = struct_pb2.Struct()
            response.metadata[METADATA_FIELD_AFFECT].Unpack(struct)
            metadata = json_format.MessageToDict(struct)
        return {"version": response.model_spec.version.value, "signature_def": signatures,
                "metadata": metadata}

    def get_status(self, version: int | None = None, timeout: float | None = None) -> dict:
        """``{version: state name}`` of the model's versions (e.g. ``{1: "AVAILABLE"}``)."""
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, version, None)
        response = self._call("GetModelStatus", self._model_stub.GetModelStatus, request, timeout)
        names = get_model_status_pb2.ModelVersionStatus.State.Name
        return {s.version: names(s.state) for s in response.model_version_status}

    def wait_until_available(self, version: int | None = None, timeout: float = 30.0) -> dict:
        """Poll ``get_status`` until a (given) version is AVAILABLE; raises ServingError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.get_status(version)
                if "AVAILABLE" in status.values():
                    return status
            except ServingError as exc:
                if exc.code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    raise
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                   f"{self.model_name} version {version} not available at "
                                   f"{self.target} after {timeout} s")
            time.sleep(0.2)
