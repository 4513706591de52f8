"""Ctrl-C during a Beam job: one line from the launcher, no tracebacks from its workers.

The DirectRunner's worker processes share the terminal's process group, so Ctrl-C reached each
of them too, and each printed its own KeyboardInterrupt traceback. :func:`run_shielding_workers`
ignores SIGINT while the job starts its workers: they inherit the ignored signal (a signal
mask would not do, the shell Beam starts them with clears it) and Python then installs no
KeyboardInterrupt handler in them. Once they run, the launcher takes Ctrl-C again, and on it
ends the processes the job started (SIGTERM ends a Python process without a word). A Ctrl-C in
the second or two before the workers exist is ignored. The processes are found in Linux's
``/proc``; elsewhere the job simply runs.
"""
from __future__ import annotations

import os
import signal
import threading
import time

WORKER_MODULE = b"apache_beam.runners.worker.sdk_worker_main"


def _descendants(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children = [int(c) for c in handle.read().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _workers_started(before: set[int]) -> int:
    count = 0
    for pid in set(_descendants(os.getpid())) - before:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                count += WORKER_MODULE in handle.read()
        except OSError:
            continue
    return count


def run_shielding_workers(job, workers: int, start_timeout: float = 60.0):
    """``job()``, which starts ``workers`` Beam worker processes, run so that Ctrl-C reaches
    only this process: on KeyboardInterrupt the processes the job started are ended and the
    interrupt goes on to the caller. ``workers`` 0 (in-process runners) just runs ``job()``."""
    if (not workers or threading.current_thread() is not threading.main_thread()
            or not os.path.isdir(f"/proc/{os.getpid()}/task")):
        return job()
    outcome = {}

    def target():
        try:
            outcome["result"] = job()
        except BaseException as err:  # noqa: BLE001 (re-raised in the caller's thread)
            outcome["error"] = err

    before = set(_descendants(os.getpid()))
    thread = threading.Thread(target=target, name="beam-job", daemon=True)
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        thread.start()
        deadline = time.monotonic() + start_timeout
        while thread.is_alive() and _workers_started(before) < workers and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGINT, handler)
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        threading.excepthook = lambda args: None  # the job's threads fail with their workers: no news
        for pid in set(_descendants(os.getpid())) - before:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass  # already gone
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
