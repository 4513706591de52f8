"""The client's gRPC retry policy against real gRPC servers, and ServingError end to end."""
from __future__ import annotations

import json
import pickle
import socket
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest

from affect_tf.serving.client import RestServingClient, ServingClient
from affect_tf.serving.protocol import ServingError


class _FlakyModelService:
    """A ModelService whose first ``failures`` GetModelStatus calls fail with ``code``."""

    def __init__(self, failures: int, code=grpc.StatusCode.UNAVAILABLE):
        self.failures, self.code, self.calls = failures, code, 0

    def GetModelStatus(self, request, context):
        from tensorflow_serving.apis import get_model_status_pb2

        self.calls += 1
        if self.calls <= self.failures:
            context.abort(self.code, f"call {self.calls} refused")
        response = get_model_status_pb2.GetModelStatusResponse()
        status = response.model_version_status.add()
        status.version = 1
        status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return response


@pytest.fixture
def flaky_server():
    from tensorflow_serving.apis import model_service_pb2_grpc

    servers = []

    def start(service):
        base = type("Servicer", (model_service_pb2_grpc.ModelServiceServicer,), {
            "GetModelStatus": lambda self, request, context: service.GetModelStatus(request, context)})
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(base(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0).wait()


@pytest.mark.parametrize("failures, retries, calls, succeeds", [
    (1, 1, 2, True),    # the UNAVAILABLE answer is retried and the retry succeeds
    (1, 0, 1, False),   # no retry policy: the first answer is final
    (9, 2, 3, False),   # retries run out: exactly 1 + 2 attempts reach the server
], ids=["retried", "no-retries", "exhausted"])
def test_client_retries_unavailable_through_the_service_config(flaky_server, failures, retries, calls,
                                                               succeeds):
    service = _FlakyModelService(failures)
    with ServingClient(flaky_server(service), "m", timeout=10, retries=retries, backoff=0.01) as client:
        if succeeds:
            assert client.get_status() == {1: "AVAILABLE"}
        else:
            with pytest.raises(ServingError) as info:
                client.get_status()
            assert info.value.code == grpc.StatusCode.UNAVAILABLE
            assert f"call {calls} refused" in str(info.value)
            assert f"{retries} retries at most" in str(info.value)
    assert service.calls == calls


def test_client_does_not_retry_other_codes(flaky_server):
    service = _FlakyModelService(1, grpc.StatusCode.NOT_FOUND)
    with ServingClient(flaky_server(service), "m", timeout=10, retries=3, backoff=0.01) as client:
        with pytest.raises(ServingError) as info:
            client.get_status()
    assert info.value.code == grpc.StatusCode.NOT_FOUND and service.calls == 1


def test_rest_client_retries_503():
    calls = []

    class FirstCallUnavailable(BaseHTTPRequestHandler):
        def do_GET(self):
            calls.append(self.path)
            status, body = (503, {"error": "warming up"}) if len(calls) == 1 else (
                200, {"model_version_status": [{"version": "1", "state": "AVAILABLE"}]})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), FirstCallUnavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert RestServingClient(url, "m", retries=1, backoff=0.01).get_status() == {1: "AVAILABLE"}
        assert calls == ["/v1/models/m"] * 2
        calls.clear()
        with pytest.raises(ServingError) as info:
            RestServingClient(url, "m", retries=0).get_status()
        assert info.value.code == grpc.StatusCode.UNAVAILABLE and "warming up" in str(info.value)
        assert len(calls) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_client_names_an_unreachable_server():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ServingClient(f"127.0.0.1:{port}", "m", timeout=5, retries=1, backoff=0.01) as client:
        with pytest.raises(ServingError) as info:
            client.get_status()
    assert info.value.code == grpc.StatusCode.UNAVAILABLE and str(port) in str(info.value)
    with pytest.raises(ServingError) as info:
        RestServingClient(f"http://127.0.0.1:{port}", "m", timeout=5, retries=1, backoff=0.01).get_status()
    assert info.value.code == grpc.StatusCode.UNAVAILABLE and str(port) in str(info.value)


def test_serving_error_round_trips_code_and_message(tmp_path):
    from affect_tf.serving.server import LocalModelServer

    error = pickle.loads(pickle.dumps(ServingError(grpc.StatusCode.NOT_FOUND, "no model 'x'")))
    assert (error.code, str(error)) == (grpc.StatusCode.NOT_FOUND, "no model 'x'")
    # Raised inside the server, it reaches both clients with its code and its message.
    with LocalModelServer({"empty": tmp_path}, port=0, rest_port=0, poll_seconds=60) as server:
        with ServingClient(server.target, "empty", timeout=10, retries=0) as client:
            with pytest.raises(ServingError) as grpc_info:
                client.get_metadata()
        with pytest.raises(ServingError) as rest_info:
            RestServingClient(f"http://127.0.0.1:{server.rest_port}", "empty", timeout=10).get_metadata()
    for info in (grpc_info, rest_info):
        assert info.value.code == grpc.StatusCode.NOT_FOUND
        assert "model 'empty' has no loaded version" in str(info.value)
