"""Load test and benchmark of the serving path (issue 8), over loopback gRPC.

Measured in one run: the in-process SavedModel call (the reference), gRPC latency p50/p99 for
1-frame and 80-frame requests (one client), and throughput with 1, 10 and 50 concurrent
clients sending 1-frame requests, plus 80-frame (batched) throughput with 10 clients. The server
runs as a separate process (``affect-tf serve``), as in deployment; clients are threads here.

    python -m benchmarks.bench_serving [--model-dir BASE_DIR] [--hold 30] [--out results.json]

Without ``--model-dir`` it exports the small test model (affect_tf/testing/tiny_model.py) first.
Figures depend on the machine: report them with its CPU count and load.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
from affect_tf.testing.local_cluster import free_port


def served_model_dir(model_dir=None) -> pathlib.Path:
    """``model_dir`` (a TF Serving base dir), or the tests' tiny model exported to a temp one."""
    if model_dir:
        return pathlib.Path(model_dir)
    from affect_tf import export
    from affect_tf.testing.tiny_model import train_tiny_model

    base = pathlib.Path(tempfile.mkdtemp(prefix="bench_serving_")) / "affect"
    model, _ = train_tiny_model(steps=3)
    export.export_for_serving(model, base, version=1, metadata={"preset": "tiny_test_model"})
    return base


def start_server(base, port: int, *flags) -> subprocess.Popen:
    """``affect-tf serve affect=BASE --port PORT FLAGS`` as its own process (logs discarded)."""
    return subprocess.Popen(
        [sys.executable, "-m", "affect_tf.cli", "serve", f"affect={base}", "--port", str(port), *flags],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_results(results: dict, out=None) -> None:
    """The results as JSON on stdout, and into ``out`` when given."""
    text = json.dumps(results, indent=2)
    print(text)
    if out:
        pathlib.Path(out).write_text(text)


def percentiles(seconds) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "mean_ms": round(float(ms.mean()), 2)}


def time_calls(call, n, warmup=3) -> list:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def load(client_factory, inputs, clients, seconds, frames) -> dict:
    """``clients`` threads, each with its own channel, send ``inputs`` back to back for ``seconds``."""
    latencies, errors = [], []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(clients)

    def worker():
        client = client_factory()
        client.predict(inputs)  # connect + warm
        barrier.wait()
        mine, bad = [], []
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                client.predict(inputs)
                mine.append(time.perf_counter() - start)
            except Exception as exc:  # counted, reported
                bad.append(repr(exc)[:200])
        with lock:
            latencies.extend(mine)
            errors.extend(bad)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return {"clients": clients, "frames_per_request": frames, "seconds": round(elapsed, 1),
            "requests": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "frames_per_s": round(len(latencies) * frames / elapsed, 1), **percentiles(latencies or [0])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="TF Serving base dir to serve (default: export the test model)")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds of the 50-client run")
    parser.add_argument("--short", type=float, default=10.0, help="seconds of the other load runs")
    parser.add_argument("--latency-n", type=int, default=200)
    parser.add_argument("--out", help="write the results JSON here too")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from affect_tf import export
    from affect_tf.serving.client import ServingClient
    from affect_tf.testing.tiny_model import random_batch

    base = served_model_dir(args.model_dir)
    version = max(int(p.name) for p in base.iterdir() if p.name.isdigit())
    one, _, _ = random_batch(batch=1, frames=1, seed=0)
    eighty, _, _ = random_batch(batch=1, frames=80, seed=1)

    # Reference: the same signature called in this process.
    fn = tf.saved_model.load(str(base / str(version))).signatures[export.DEFAULT_SIGNATURE]
    results = {"machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
               "in_process": {}, "grpc_latency": {}, "throughput": []}
    for name, inputs in (("1_frame", one), ("80_frames", eighty)):
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        results["in_process"][name] = percentiles(time_calls(lambda: fn(**tensors), args.latency_n))

    port = free_port()
    server = start_server(base, port)
    target = f"127.0.0.1:{port}"
    try:
        factory = lambda: ServingClient(target, "affect", timeout=30, retries=4)  # noqa: E731
        probe = factory()
        probe.wait_until_available(timeout=120)
        for name, inputs in (("1_frame", one), ("80_frames", eighty)):
            results["grpc_latency"][name] = percentiles(
                time_calls(lambda: probe.predict(inputs), args.latency_n))
        for clients in (1, 10, 50):
            seconds = args.hold if clients == 50 else args.short
            results["throughput"].append(load(factory, one, clients, seconds, 1))
            print(json.dumps(results["throughput"][-1]), flush=True)
        results["throughput"].append(load(factory, eighty, 10, args.short, 80))
        print(json.dumps(results["throughput"][-1]), flush=True)
        results["server_alive_after"] = server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
    for name in ("1_frame", "80_frames"):
        results[f"grpc_over_in_process_p50_{name}"] = round(
            results["grpc_latency"][name]["p50_ms"] / results["in_process"][name]["p50_ms"], 2)
    print_results(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
