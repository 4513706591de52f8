"""The preprocessing job on a real Dask cluster (a scheduler and two single-threaded worker
processes on 127.0.0.1) against the DirectRunner: the real FacePipeline on a synthetic drop."""
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from affect_tf.data import beam_job, schema, synthetic

pytest.importorskip("distributed")

from affect_tf.testing.local_cluster import local_dask_cluster  # noqa: E402

IN_PROCESS = ["--direct_running_mode=in_memory"]


def _records(out):
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(pathlib.Path(out).glob("*/*.tfrecord*")) if not p.parent.name.startswith("_")}


def _differences(out, reference):
    """Which decoded features differ (and by how much) where the record bytes differ."""
    found = []
    for name, data in _records(out).items():
        if data == _records(reference).get(name):
            continue
        parsed = [[schema.parse_sequence_example(s, decode_face=True) for s in
                   tf.data.TFRecordDataset(str(folder / name), compression_type="GZIP")] for folder in (out, reference)]
        for (fa, _, _), (fb, _, _) in zip(*parsed):
            for key in fa:
                a, b = fa[key].numpy().astype(float), fb[key].numpy().astype(float)
                if a.shape != b.shape or not np.array_equal(a, b):
                    found.append((name, key, a.shape, b.shape, np.abs(a - b).max() if a.shape == b.shape else None))
    return found


def _stats(out):
    return {p.stem: json.loads(p.read_text()) for p in pathlib.Path(out, "_stats").glob("*.json")}


def _outcome(summary):
    return {k: v for k, v in summary.items() if k not in ("seconds", "root")}


def test_default_options_put_one_recording_per_dask_partition():
    args = beam_job.default_pipeline_args(["--dask_client_address=tcp://h:1"])
    assert args == ["--dask_client_address=tcp://h:1", f"--runner={beam_job.DASK_RUNNER}",
                    "--dask_partition_size=1"]
    given = beam_job.default_pipeline_args([f"--runner={beam_job.DASK_RUNNER}", "--dask_npartitions=3"])
    assert "--dask_partition_size=1" not in given and "--direct_num_workers=2" not in given


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_dask_cluster_matches_direct_runner_and_resumes(tmp_path):
    root = tmp_path / "drop"
    names = synthetic.write_synthetic_drop(root, n_subjects=4, n_videos_per_subject=1, seconds=1.0, fps=10.0)
    (root / "videos" / f"{names[1]}.mp4").write_bytes(b"not a video")  # one recording fails
    direct = beam_job.run_preprocess("affwild2", root, tmp_path / "direct", IN_PROCESS, workers=1)
    assert direct["failed"] == 1 and direct["written"] == 3 and direct["frames"] == 30

    with local_dask_cluster(2, work_dir=tmp_path) as (address, processes):
        worker_pids = {p.pid for p in processes[1:]}
        out = tmp_path / "dask"
        first = beam_job.run_preprocess("affwild2", root, out, [f"--dask_client_address={address}"])
        assert _outcome(first) == _outcome(direct)
        assert _records(out) == _records(tmp_path / "direct"), _differences(out, tmp_path / "direct")
        stats = _stats(out)
        done = {s["worker"]["pid"] for s in stats.values() if not s["error"]}
        assert done <= worker_pids and len(done) == 2, stats
        assert all(s["worker"]["host"] for s in stats.values())

        # resume: a lost record is redone, the others are kept as they are
        lost = sorted((out / "train").glob("*.tfrecord.gz"))[0]
        lost.unlink()
        kept = {p: p.stat().st_mtime_ns for p in out.glob("*/*.tfrecord.gz")}
        again = beam_job.run_preprocess("affwild2", root, out, [f"--dask_client_address={address}"])
        assert again["resumed"] == 2 and again["written"] == 1 and again["failed"] == 1
        assert {p: p.stat().st_mtime_ns for p in kept} == kept
        assert _records(out) == _records(tmp_path / "direct")
    assert all(p.poll() is not None for p in processes)  # the cluster is gone
    [error] = again["errors"]
    assert names[1] in error["id"] and error == direct["errors"][0]
