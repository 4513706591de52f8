"""The local server's REST API against TF Serving's documentation (``api_rest.md``, issue 28):
its worked example (the ``half_plus_three`` model) replayed request for request, the row and
columnar formats of its multi-input example, metadata in proto-JSON field names, version
labels, and the malformed requests of issue 27 (7, 16), over a real loopback socket."""
from __future__ import annotations

import http.client
import json
import socket
import time

import numpy as np
import pytest

from affect_tf import features as F
from affect_tf.testing.tiny_model import MODEL_NAME, random_batch


def _half_plus_three(base):
    """TF Serving's toy model: y = 0.5 x + 3 on a float vector, plus a second signature and a
    three-input one shaped like the documentation's ``tag``/``signal``/``sensor`` example."""
    import tensorflow as tf

    class HalfPlusThree(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x):
            return {"y": 0.5 * x + 3.0}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def times_two(self, x):
            return {"y": 2.0 * x}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="tag"),
                                      tf.TensorSpec([None, 5], tf.float32, name="signal"),
                                      tf.TensorSpec([None, 2, 2], tf.float32, name="sensor")])
        def three_inputs(self, tag, signal, sensor):
            return {"tag_length": tf.strings.length(tag),
                    "total": tf.reduce_sum(signal, 1) + tf.reduce_sum(sensor, [1, 2])}

    module = HalfPlusThree()
    tf.saved_model.save(module, str(base / "123"), signatures={
        "serving_default": module.predict, "times_two": module.times_two,
        "three_inputs": module.three_inputs})
    return base


@pytest.fixture(scope="module")
def toy_server(tmp_path_factory):
    from affect_tf.serving.server import LocalModelServer

    base = _half_plus_three(tmp_path_factory.mktemp("toy") / "half_plus_three")
    srv = LocalModelServer({"half_plus_three": base}, port=0, rest_port=0, poll_seconds=30,
                           version_labels={"half_plus_three": {"stable": 123}}, rest_read_timeout=1.0)
    srv.start()
    yield srv
    srv.stop()


def _call(port, method, path, body=None):
    """(status, parsed JSON) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def test_documented_example_replayed(toy_server):
    port = toy_server.rest_port
    assert _call(port, "GET", "/v1/models/half_plus_three") == (200, {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    assert _call(port, "POST", "/v1/models/half_plus_three:predict", {"instances": [1.0, 2.0, 5.0]}) \
        == (200, {"predictions": [3.5, 4.0, 5.5]})
    status, body = _call(port, "POST", "/v1/models/half:predict", {"instances": [1.0, 5.0]})
    assert status == 404 and list(body) == ["error"] and "half" in body["error"]
    # The same call in the columnar format, on a version, and on a named signature.
    assert _call(port, "POST", "/v1/models/half_plus_three/versions/123:predict",
                 {"inputs": [1.0, 2.0, 5.0]}) == (200, {"outputs": [3.5, 4.0, 5.5]})
    assert _call(port, "POST", "/v1/models/half_plus_three:predict",
                 {"signature_name": "times_two", "instances": [1.0, 2.5]}) == (200, {"predictions": [2.0, 5.0]})
    status, body = _call(port, "POST", "/v1/models/half_plus_three:predict",
                         {"signature_name": "nope", "instances": [1.0]})
    assert status == 400 and "nope" in body["error"]


def test_documented_row_and_columnar_formats_agree(toy_server):
    rows = {"signature_name": "three_inputs", "instances": [
        {"tag": "foo", "signal": [1, 2, 3, 4, 5], "sensor": [[1, 2], [3, 4]]},
        {"tag": {"b64": "YmFy"}, "signal": [3, 4, 1, 2, 5], "sensor": [[4, 5], [6, 8]]}]}
    columns = {"signature_name": "three_inputs", "inputs": {
        "tag": ["foo", "bar"], "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]],
        "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]]}}
    port = toy_server.rest_port
    # Hand-computed: 15 + 10 and 15 + 23; "foo" and "bar" (b64) are 3 bytes.
    assert _call(port, "POST", "/v1/models/half_plus_three:predict", rows) == (200, {"predictions": [
        {"tag_length": 3, "total": 25.0}, {"tag_length": 3, "total": 38.0}]})
    assert _call(port, "POST", "/v1/models/half_plus_three:predict", columns) == (200, {"outputs": {
        "tag_length": [3, 3], "total": [25.0, 38.0]}})
    status, body = _call(port, "POST", "/v1/models/half_plus_three:predict", {**rows, **columns})
    assert status == 400 and "instances" in body["error"] and "inputs" in body["error"]


def test_metadata_in_proto_json_field_names(toy_server):
    status, body = _call(toy_server.rest_port, "GET", "/v1/models/half_plus_three/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "half_plus_three", "signature_name": "", "version": "123"}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    x = signature["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT" and x["tensor_shape"] == {"dim": [{"size": "-1"}]}
    assert "signatureDef" not in json.dumps(body) and "tensorShape" not in json.dumps(body)


def test_version_labels(toy_server):
    port = toy_server.rest_port
    assert _call(port, "GET", "/v1/models/half_plus_three/labels/stable")[1]["model_version_status"][0][
        "version"] == "123"
    assert _call(port, "POST", "/v1/models/half_plus_three/labels/stable:predict",
                 {"instances": [0.0]}) == (200, {"predictions": [3.0]})
    for path in ("/v1/models/half_plus_three/labels/foo", "/v1/models/half_plus_three/labels/foo/metadata",
                 "/v1/models/half_plus_three/versions/7"):
        status, body = _call(port, "GET", path)
        assert status == 404 and list(body) == ["error"], path


def _raw_exchange(port, head: bytes, body: bytes, wait: float) -> tuple[bytes, float]:
    """Send ``head`` + ``body`` and keep the connection open; (what came back, seconds taken)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        start = time.monotonic()
        sock.sendall(head + body)
        reply = b""
        try:
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except socket.timeout:
            pass
        return reply, time.monotonic() - start


@pytest.mark.parametrize("length, sent, at_once", [("-1", b'{"instances": [1.0]}', True),
                                                   ("ten", b'{"instances": [1.0]}', True),
                                                   ("500", b'{"instances": [1.0]}', False)])
def test_bad_content_length_is_refused_not_waited_on(toy_server, capfd, length, sent, at_once):
    head = (f"POST /v1/models/half_plus_three:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()
    reply, seconds = _raw_exchange(toy_server.rest_port, head, sent, wait=10)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"Content-Length" in reply.split(b"\r\n\r\n", 1)[1]
    # at once, or once the 1 s read limit runs out (the body promised 500 bytes)
    assert seconds < (1.0 if at_once else 3.0), seconds
    time.sleep(0.2)
    assert "Traceback" not in capfd.readouterr().err
    assert _call(toy_server.rest_port, "POST", "/v1/models/half_plus_three:predict",
                 {"instances": [1.0]}) == (200, {"predictions": [3.5]})


def test_affect_model_rows_match_columns(server):
    inputs, _, _ = random_batch(batch=2, frames=3, seed=11)
    columns = {k: v.tolist() for k, v in inputs.items()}
    rows = [{k: v[i] for k, v in columns.items()} for i in range(2)]
    path = f"/v1/models/{MODEL_NAME}/versions/1:predict"
    status, by_column = _call(server.rest_port, "POST", path, {"inputs": columns})
    assert status == 200 and set(by_column) == {"outputs"}
    status, by_row = _call(server.rest_port, "POST", path, {"instances": rows})
    assert status == 200 and set(by_row) == {"predictions"} and len(by_row["predictions"]) == 2
    for i, prediction in enumerate(by_row["predictions"]):
        for name, value in prediction.items():
            np.testing.assert_allclose(value, by_column["outputs"][name][i], atol=1e-6)


def test_ragged_and_empty_inputs_name_the_input_and_the_shape(server):
    inputs, _, _ = random_batch(batch=1, frames=2, seed=12)
    columns = {k: v.tolist() for k, v in inputs.items()}
    ragged = json.loads(json.dumps(columns))
    ragged[F.LANDMARKS][0][1] = ragged[F.LANDMARKS][0][1][:60]  # 60 landmarks in frame 1
    path = f"/v1/models/{MODEL_NAME}:predict"
    status, body = _call(server.rest_port, "POST", path, {"inputs": ragged})
    assert status == 400
    assert "'landmarks'" in body["error"] and "ragged" in body["error"] and "[None, None, 68, 2]" in body["error"]
    status, body = _call(server.rest_port, "POST", path, {"inputs": {k: [] for k in columns}})
    assert status == 400 and "empty" in body["error"] and "expected shape" in body["error"]
    assert "must be" not in body["error"]  # not called a dtype problem
