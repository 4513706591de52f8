"""Benchmark: the preprocess Beam job with 1 vs 2 DirectRunner worker processes.

Writes a synthetic drop (default 8 recordings x 4 s at 10 fps), runs the real job (FacePipeline:
dlib detection/tracking, alignment, mel, eGeMAPS) once with ``--direct_num_workers=1`` and once
with 2 (both ``multi_processing``, so start-up costs are alike), checks the records are
byte-identical, and prints wall times, the speed-up and the machine load around each run.

    python -m benchmarks.bench_preprocess [--recordings 8] [--seconds 4] [--fps 10] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import tempfile
import time

from affect_tf.data import beam_job, synthetic


def _records(out):
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(pathlib.Path(out).glob("*/*.tfrecord*")) if not p.parent.name.startswith("_")}


def synthetic_drop_from_args(argv, description: str, prefix: str):
    """Parses the shared options and writes the drop: ``(args, work folder, drop, result dict)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    args = parser.parse_args(argv)
    work = pathlib.Path(args.work or tempfile.mkdtemp(prefix=prefix))
    drop = work / "drop"
    synthetic.write_synthetic_drop(drop, n_subjects=args.recordings, n_videos_per_subject=1,
                                   seconds=args.seconds, fps=args.fps)
    result = {"recordings": args.recordings, "frames_per_recording": int(args.seconds * args.fps),
              "cpus": os.cpu_count()}
    return args, work, drop, result


def timed_preprocess(drop, out, recordings: int, **run_kwargs):
    """One run of the job on a fresh ``out``: ``(summary, wall time and machine load around it)``."""
    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    summary = beam_job.run_preprocess("affwild2", drop, out, **run_kwargs)
    wall = time.perf_counter() - started
    assert summary["failed"] == 0 and summary["written"] == recordings, summary
    return summary, {"wall_s": round(wall, 2), "load1_before": load_before,
                     "load1_after": os.getloadavg()[0], "frames": summary["frames"]}


def report(result: dict, args, work) -> dict:
    """Print the result and remove a temporary work folder."""
    print(json.dumps(result, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv=None) -> dict:
    args, work, drop, result = synthetic_drop_from_args(argv, __doc__.splitlines()[0], "bench_preprocess_")
    for workers in (1, 2):
        summary, timing = timed_preprocess(drop, work / f"out{workers}", args.recordings, workers=workers)
        result[f"workers{workers}"] = {**timing, "faces_found": summary["faces_found"]}
    result["speedup"] = round(result["workers1"]["wall_s"] / result["workers2"]["wall_s"], 3)
    result["byte_identical"] = _records(work / "out1") == _records(work / "out2")
    return report(result, args, work)

if __name__ == "__main__":
    main()
