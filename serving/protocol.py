"""What the serving clients and the local server agree on: the error type, the metadata field
names and ``TensorProto`` conversion (from :mod:`affect_tf.remote`), the status codes of the
REST API and how arrays travel as JSON."""
from __future__ import annotations

import base64

import grpc
import numpy as np

# Shared with the gRPC client in the core; imported from here by the server and the tests.
from affect_tf.remote import (METADATA_FIELD_AFFECT, METADATA_FIELD_SIGNATURES,  # noqa: F401
                              ServingError, from_tensor_proto, invalid_argument, not_found,
                              to_tensor_proto)

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
