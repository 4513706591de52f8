"""Benchmark: the preprocess Beam job on the DirectRunner with 1 worker vs a Dask cluster of 2
single-threaded workers (a ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1).

Writes a synthetic drop (default 8 recordings x 4 s at 10 fps), runs the real job (FacePipeline:
dlib detection/tracking, alignment, mel, eGeMAPS) on both, checks the records are byte-identical,
and prints wall times (the cluster is started before its clock starts, as a standing cluster
would be; ``speedup_with_cluster_start`` counts its start too), the speed-up, which worker did each recording and the machine load around each run.

    python benchmarks/bench_distributed.py [--recordings 8] [--seconds 4] [--fps 10] [--work DIR]
"""
from __future__ import annotations

import collections
import json
import os
import pathlib
import shutil
import sys
import time

from affect_tf.data import beam_job

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the tests package, run as a script
from bench_preprocess import _records, synthetic_drop_from_args  # noqa: E402
from tests.distributed.cluster import local_dask_cluster  # noqa: E402


def _timed(drop, out, pipeline_args, recordings):
    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    summary = beam_job.run_preprocess("affwild2", drop, out, pipeline_args)
    wall = time.perf_counter() - started
    assert summary["failed"] == 0 and summary["written"] == recordings, summary
    pids = collections.Counter(json.loads(p.read_text())["worker"]["pid"] for p in (out / "_stats").glob("*.json"))
    return {"wall_s": round(wall, 2), "load1_before": load_before, "load1_after": os.getloadavg()[0],
            "frames": summary["frames"], "recordings_per_worker": sorted(pids.values())}


def main(argv=None) -> dict:
    args, work, drop, result = synthetic_drop_from_args(argv, __doc__.splitlines()[0], "bench_distributed_")
    result["direct_1_worker"] = _timed(drop, work / "direct", ["--direct_running_mode=multi_processing",
                                                               "--direct_num_workers=1"], args.recordings)
    started = time.perf_counter()
    with local_dask_cluster(2, work_dir=work) as (address, _):
        cluster_start = time.perf_counter() - started
        result["dask_2_workers"] = _timed(drop, work / "dask", [f"--dask_client_address={address}"],
                                          args.recordings)
    result["dask_2_workers"]["cluster_start_s"] = round(cluster_start, 2)
    direct, dask = result["direct_1_worker"]["wall_s"], result["dask_2_workers"]["wall_s"]
    result["speedup"] = round(direct / dask, 3)
    # the DirectRunner's clock includes starting its worker process; this one counts the cluster's too
    result["speedup_with_cluster_start"] = round(direct / (dask + cluster_start), 3)
    result["byte_identical"] = _records(work / "direct") == _records(work / "dask")
    print(json.dumps(result, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
