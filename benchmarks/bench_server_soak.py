"""Is the server's memory growth under malformed requests a leak? (issue 14)

Starts ``affect-tf serve`` as its own process (the small test model unless ``--model-dir``),
sends ``--requests`` refused requests over gRPC and REST in turn (NaN and inf features, inputs
disagreeing on T, batch 0, garbage SequenceExamples, a negative dimension, a body that is not
JSON), checks each is refused with a message, and samples the server's resident memory
(``VmRSS``) every ``--every`` requests. A leak grows with the request count; a working set
levels off after the first few hundred.

    python -m benchmarks.bench_server_soak [--requests 2000] [--frames 8] [--out soak.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

import numpy as np

from benchmarks.bench_serving import free_port, print_results, served_model_dir, start_server


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        line = next(ln for ln in handle if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def malformed_requests(frames: int, rest_port: int, model_name: str):
    """Callables, each sending one request the server must refuse; they return its message."""
    import grpc

    from affect_tf import export
    from affect_tf import features as F
    from affect_tf.serving.protocol import ServingError
    from affect_tf.testing.tiny_model import random_batch

    good = random_batch(batch=1, frames=frames, seed=0)[0]

    def grpc_case(client, inputs, signature=export.DEFAULT_SIGNATURE):
        def send():
            try:
                client.predict(inputs, signature=signature)
            except ServingError as err:
                return str(err)
            raise AssertionError("accepted")
        return send

    def negative_dimension(client):
        from tensorflow_serving.apis import predict_pb2

        from affect_tf.serving.protocol import to_tensor_proto

        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        for k, v in good.items():
            request.inputs[k].CopyFrom(to_tensor_proto(v))
        request.inputs[F.MEL].tensor_shape.dim[1].size = -2
        stub = client._predict_stub

        def send():
            try:
                stub.Predict(request, timeout=30)
            except grpc.RpcError as err:
                return err.details()
            raise AssertionError("accepted")
        return send

    def rest_case(body: bytes):
        url = f"http://127.0.0.1:{rest_port}/v1/models/{model_name}:predict"

        def send():
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=30)
            except urllib.error.HTTPError as err:
                return json.loads(err.read())["error"]
            raise AssertionError("accepted")
        return send

    def with_value(name, value):
        inputs = {k: v.copy() for k, v in good.items()}
        inputs[name].flat[3] = value
        return inputs

    def cases(client):
        small = random_batch(batch=1, frames=1, seed=1)[0]  # JSON bodies stay small: 1 frame
        rest_nan = {"inputs": {k: v.tolist() for k, v in small.items()}}
        rest_nan["inputs"][F.FACE_MASK][0][0] = float("nan")
        return [
            grpc_case(client, with_value(F.MEL, np.nan)),
            grpc_case(client, with_value(F.LANDMARKS, np.inf)),
            grpc_case(client, {**good, F.FACE_MASK: np.ones((1, frames + 1), np.float32)}),
            grpc_case(client, {k: v[:0] for k, v in good.items()}),
            grpc_case(client, {"examples": np.array([b"\xff\x00garbage" * 100], object)},
                      export.SEQUENCE_EXAMPLE_SIGNATURE),
            negative_dimension(client),
            rest_case(b"not json" * 1000),
            rest_case(json.dumps(rest_nan).encode()),
        ]
    return cases


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="TF Serving base dir to serve (default: export the test model)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100, help="requests between memory samples")
    parser.add_argument("--frames", type=int, default=8, help="frames per request (8: about 0.7 MB)")
    parser.add_argument("--out", help="write the results JSON here too")
    args = parser.parse_args(argv)

    from affect_tf.serving.client import ServingClient

    base = served_model_dir(args.model_dir)
    port, rest_port = free_port(), free_port()
    server = start_server(base, port, "--rest-port", str(rest_port))
    samples = []
    try:
        with ServingClient(f"127.0.0.1:{port}", "affect", timeout=30, retries=4) as client:
            client.wait_until_available(timeout=120)
            cases = malformed_requests(args.frames, rest_port, "affect")(client)
            samples.append((0, rss_mb(server.pid)))
            started = time.perf_counter()
            for i in range(1, args.requests + 1):
                message = cases[i % len(cases)]()
                assert message, f"request {i}: refused without a message"
                if i % args.every == 0:
                    samples.append((i, rss_mb(server.pid)))
                    print(f"{i:6d} requests: server RSS {samples[-1][1]:.1f} MB", flush=True)
            seconds = time.perf_counter() - started
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
    counts, rss = np.array(samples).T
    late = counts >= counts[-1] / 2  # a leak keeps growing in the second half; a working set does not
    slope = np.polyfit(counts[late], rss[late], 1)[0] * 1000  # MB per 1,000 requests
    results = {"requests": args.requests, "frames_per_request": args.frames, "seconds": round(seconds, 1),
               "rss_mb": {int(c): round(r, 1) for c, r in samples},
               "rss_start_mb": round(rss[0], 1), "rss_end_mb": round(rss[-1], 1),
               "growth_second_half_mb": round(rss[-1] - rss[late][0], 1),
               "slope_second_half_mb_per_1000": round(slope, 2), "server_alive_after": alive,
               "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}}
    print_results(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
