"""What the serving client and the local server agree on: the error type, the metadata field
names, the status codes of the REST API, and how arrays travel (``TensorProto`` over gRPC,
columnar JSON over REST)."""
from __future__ import annotations

import base64

import grpc
import numpy as np

# GetModelMetadata fields: TF Serving's own, and ours (the export's metadata asset; real TF
# Serving answers INVALID_ARGUMENT for it).
METADATA_FIELD_SIGNATURES = "signature_def"
METADATA_FIELD_AFFECT = "affect_tf_metadata"

# The HTTP status TF Serving's REST API answers for each gRPC code (its http_server.cc), and
# the code a client reads back from a status (the first code listed for it).
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409, grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
}
GRPC_CODE = {status: code for code, status in reversed(list(HTTP_STATUS.items()))}


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


def to_json_value(array):
    """An input array in TF Serving's columnar JSON: nested lists; strings as ``{"b64": ...}``."""
    array = np.asarray(array)
    if array.dtype.kind in "SO":
        return [{"b64": base64.b64encode(v).decode()} for v in array.ravel()]
    return array.tolist()


def bytes_from_json(value) -> bytes:
    """One string element of a JSON request (``{"b64": ...}``, or a plain string) -> bytes."""
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        return value.encode()
    raise invalid_argument('string inputs must be strings or {"b64": "..."} objects')
