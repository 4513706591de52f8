"""A real Dask cluster on 127.0.0.1 for tests and benchmarks: one ``dask scheduler`` and N
``dask worker`` processes (single-threaded, no nanny, no dashboard), stopped by their ids."""
from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]  # the checkout (workers import its tests too)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # its own session: the worker and anything it forked
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def local_dask_cluster(n_workers: int = 2, work_dir=None, timeout: float = 60.0):
    """Yields ``(address, processes)``; the workers import this checkout (``tests`` included)."""
    from distributed import Client

    dask = [str(pathlib.Path(sys.executable).parent / "dask")]
    # the launcher's environment as it is: BLAS thread counts change the mel spectrogram's last bits
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    address = f"tcp://127.0.0.1:{free_port()}"
    log_dir = pathlib.Path(work_dir) if work_dir else None
    processes = []

    def start(args, name):
        out = open(log_dir / f"{name}.log", "wb") if log_dir else subprocess.DEVNULL
        processes.append(subprocess.Popen(dask + args, env=env, cwd=REPO, start_new_session=True,
                                          stdout=out, stderr=subprocess.STDOUT))

    try:
        start(["scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
              "scheduler")
        for i in range(n_workers):
            start(["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                   "--name", f"worker-{i}", "--memory-limit", "0"], f"worker-{i}")
        deadline = time.time() + timeout
        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(n_workers, timeout=max(1.0, deadline - time.time()))
        yield address, processes
    finally:
        for proc in reversed(processes):
            _stop(proc)
