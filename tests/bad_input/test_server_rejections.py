"""Every request the server refuses says why in its status message (gRPC details or the REST
``error``), and nothing non-finite is ever served as a prediction (issue 14)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest

from affect_tf import export
from affect_tf import features as F
from affect_tf.serving.protocol import ServingError, to_tensor_proto
from affect_tf.testing.tiny_model import MODEL_NAME, random_batch

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _inputs(seed=3):
    return random_batch(batch=1, frames=2, seed=seed)[0]


def _with(name, index, value):
    inputs = _inputs()
    inputs[name] = inputs[name].copy()
    inputs[name][index] = value
    return inputs


def _grpc_cases():
    inputs = _inputs()
    return [
        ("NaN mel", dict(inputs=_with(F.MEL, (0, 1, 3, 4), np.nan)),
         "input 'mel' has 1 NaN or infinite values (first at index [0, 1, 3, 4])"),
        ("inf landmarks", dict(inputs=_with(F.LANDMARKS, (0, 0, 5, 1), np.inf)),
         "input 'landmarks' has 1 NaN or infinite values (first at index [0, 0, 5, 1])"),
        ("-inf egemaps", dict(inputs=_with(F.EGEMAPS, (0, 1, 0), -np.inf)), "input 'egemaps' has 1 NaN"),
        ("NaN face mask", dict(inputs=_with(F.FACE_MASK, (0, 0), np.nan)), "input 'face_mask' has 1 NaN"),
        ("batch 0", dict(inputs={k: v[:0] for k, v in inputs.items()}), "batch size is 0"),
        ("T = 0", dict(inputs={k: v[:, :0] for k, v in inputs.items()}), "frame count is 0"),
        ("B disagrees", dict(inputs={**inputs, F.MEL: np.concatenate([inputs[F.MEL]] * 2)}),
         "inputs disagree on the batch size (axis 0)"),
        ("T disagrees", dict(inputs={**inputs, F.FACE_MASK: np.ones((1, 5), np.float32)}),
         "inputs disagree on the frame count (axis 1)"),
        ("garbage SequenceExample", dict(inputs={"examples": np.array([b"\xff\x00garbage"], object)},
                                         signature=export.SEQUENCE_EXAMPLE_SIGNATURE),
         "input 'examples'[0] is not a serialized tf.train.SequenceExample"),
        ("empty SequenceExample", dict(inputs={"examples": np.array([b""], object)},
                                       signature=export.SEQUENCE_EXAMPLE_SIGNATURE),
         "the model rejected the inputs: "),
        ("no SequenceExamples", dict(inputs={"examples": np.array([], object)},
                                     signature=export.SEQUENCE_EXAMPLE_SIGNATURE), "batch size is 0"),
    ]


@pytest.mark.parametrize("case", _grpc_cases(), ids=lambda c: c[0])
def test_grpc_rejection_says_why(client, case):
    _, kwargs, fragment = case
    with pytest.raises(ServingError) as info:
        client.predict(**kwargs)
    assert info.value.code == INVALID, str(info.value)
    assert fragment in str(info.value)
    good = client.predict(_inputs(seed=9))
    assert all(np.isfinite(v).all() for v in good.values())


def _raw_predict(server, mutate):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    for k, v in _inputs().items():
        request.inputs[k].CopyFrom(to_tensor_proto(v))
    mutate(request)
    with grpc.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    return info.value


@pytest.mark.parametrize("dims, fragment", [
    ((1, -2, 128, 128), "input 'mel' has a negative dimension in shape [1, -2, 128, 128]"),
    ((-1, 2, 128, 128), "input 'mel' has a negative dimension in shape [-1, 2, 128, 128]"),
])
def test_negative_dimension_is_invalid_argument_not_unknown(server, dims, fragment):
    def mutate(request):
        for dim, size in zip(request.inputs[F.MEL].tensor_shape.dim, dims):
            dim.size = size

    error = _raw_predict(server, mutate)
    assert (error.code(), error.details()) == (INVALID, fragment)


def _rest(server, body: bytes):
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/{MODEL_NAME}:predict"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _json_inputs(**changes):
    inputs = {k: v.tolist() for k, v in _inputs().items()}
    return {"inputs": {**inputs, **changes}}


@pytest.mark.parametrize("body, fragment", [
    (json.dumps(_json_inputs(mel=np.full((1, 2, 128, 128), np.nan).tolist())).encode(),
     "input 'mel' has 32768 NaN or infinite values"),
    (json.dumps(_json_inputs(face_mask=[[1.0, float("inf")]])).encode(), "input 'face_mask' has 1 NaN"),
    (json.dumps(_json_inputs(face_mask=[[1.0, 1.0, 1.0]])).encode(), "frame count"),
    (b'{"inputs": [1, 2]}', "'inputs' must be an object naming the inputs"),
    (b"not json", "request body is not JSON"),
    (json.dumps({"signature_name": export.SEQUENCE_EXAMPLE_SIGNATURE, "inputs": {"examples": 5}}).encode(),
     'string inputs must be strings or {"b64": "..."} objects'),
    (json.dumps({"signature_name": export.SEQUENCE_EXAMPLE_SIGNATURE,
                 "inputs": {"examples": [{"b64": "/wBnYXJiYWdl"}]}}).encode(),
     "is not a serialized tf.train.SequenceExample"),
], ids=["NaN mel", "inf mask", "T disagrees", "inputs a list", "not JSON", "examples a number",
        "garbage SequenceExample"])
def test_rest_rejection_says_why(server, body, fragment):
    status, reply = _rest(server, body)
    assert status == 400 and fragment in reply["error"], reply
    status, reply = _rest(server, json.dumps(_json_inputs()).encode())
    assert status == 200 and np.isfinite(reply["outputs"]["valence"]).all()


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def test_malformed_request_soak_keeps_memory_bounded(client):
    """300 refused ~1 MB requests (the server runs in this process): resident memory grows by
    less than 64 MB after a warm-up of 50."""
    nan = _with(F.MEL, (0, 0, 0, 0), np.nan)
    cases = [dict(inputs=nan), dict(inputs={**_inputs(), F.FACE_MASK: np.ones((1, 7), np.float32)})]
    for i in range(50):
        with pytest.raises(ServingError):
            client.predict(**cases[i % 2])
    before = _rss_mb()
    for i in range(300):
        with pytest.raises(ServingError):
            client.predict(**cases[i % 2])
    grown = _rss_mb() - before
    print(f"resident memory after 300 malformed requests: +{grown:.1f} MB")
    assert grown < 64, grown
