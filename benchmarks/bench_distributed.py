"""Benchmark: the preprocess Beam job on the DirectRunner with 1 worker vs a Dask cluster of 2
single-threaded workers (a ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1).

Writes a synthetic drop (default 8 recordings x 4 s at 10 fps), runs the real job (FacePipeline:
dlib detection/tracking, alignment, mel, eGeMAPS) on both, checks the records are byte-identical,
and prints wall times (the cluster is started before its clock starts, as a standing cluster
would be; ``speedup_with_cluster_start`` counts its start too), the speed-up, which worker did each recording and the machine load around each run.

    python -m benchmarks.bench_distributed [--recordings 8] [--seconds 4] [--fps 10] [--work DIR]
"""
from __future__ import annotations

import collections
import json
import time

from affect_tf.testing.local_cluster import local_dask_cluster
from benchmarks.bench_preprocess import _records, report, synthetic_drop_from_args, timed_preprocess


def _timed(drop, out, pipeline_args, recordings):
    _, timing = timed_preprocess(drop, out, recordings, pipeline_args=pipeline_args)
    pids = collections.Counter(json.loads(p.read_text())["worker"]["pid"] for p in (out / "_stats").glob("*.json"))
    return {**timing, "recordings_per_worker": sorted(pids.values())}


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
    return report(result, args, work)


if __name__ == "__main__":
    main()
