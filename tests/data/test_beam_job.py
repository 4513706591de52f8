"""The Beam preprocessing job on the DirectRunner (real pipelines, real TFRecords)."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features as F
from affect_tf.data import adapters, beam_job, reader, schema, synthetic

IN_PROCESS = ["--direct_running_mode=in_memory"]
FAKE = "tests.data.fake_processor:ArrayProcessor"
REPO = pathlib.Path(__file__).resolve().parents[2]


def _recordings(n=4, frames=12):
    out = []
    for i in range(n):
        v = np.linspace(-1, 1, frames).astype(np.float32) * (i + 1) / n
        out.append(adapters.Recording(
            id=f"rec/{i}", video=f"/nowhere/rec{i}.mp4", audio=None, subject=f"p{i % 2}",
            split="train" if i % 2 == 0 else "validation", fps=10.0, valence=v, arousal=-v,
            label_mask=np.ones((frames, 2), np.float32)))
    return out


def _record_files(out):
    return sorted(p for p in pathlib.Path(out).glob("*/*.tfrecord*") if not p.parent.name.startswith("_"))


def _read_all(path):
    ds = tf.data.TFRecordDataset(str(path), compression_type="GZIP" if str(path).endswith(".gz") else None)
    return [schema.parse_sequence_example(s, decode_face=False) for s in ds]


def test_failing_recording_is_reported_chunks_are_written_and_rerun_resumes(tmp_path):
    recs = _recordings(frames=12)
    summary = beam_job.run_preprocess(
        "", "", tmp_path, IN_PROCESS, workers=1, processor=FAKE, recordings=recs,
        processor_options={"fail_ids": ["rec/2"]}, chunk_frames=5, chunk_overlap=2)
    assert summary["recordings"] == 4 and summary["written"] == 3 and summary["failed"] == 1
    assert summary["errors"][0]["id"] == "rec/2" and "corrupt on purpose" in summary["errors"][0]["error"]
    assert summary["frames"] == 36 and summary["faces_found"] == 27  # fake: no face on every 4th frame
    assert summary["frames_without_face"] == summary["masked_frames"] == 9
    assert summary["splits"] == {"train": {"recordings": 1, "frames": 12}, "validation": {"recordings": 2, "frames": 24}}
    assert json.loads((tmp_path / "summary.json").read_text())["failed"] == 1
    files = _record_files(tmp_path)
    assert [f.name for f in files] == ["rec__0.tfrecord.gz", "rec__1.tfrecord.gz", "rec__3.tfrecord.gz"]
    assert not list(tmp_path.glob("_tmp/*"))
    # 12 frames in chunks of 5 with 2 overlapping: starts 0, 3, 6, 9; every frame counted once
    chunks = _read_all(tmp_path / "train" / "rec__0.tfrecord.gz")
    assert [int(m["chunk_start"]) for _, _, m in chunks] == [0, 3, 6, 9]
    kept = np.concatenate([m[F.FRAME_INDEX].numpy()[f[F.FRAME_MASK].numpy() == 1] for f, _, m in chunks])
    np.testing.assert_array_equal(kept, np.arange(12))
    values = np.concatenate([l[F.TARGETS].numpy()[f[F.FRAME_MASK].numpy() == 1, 0] for f, l, _ in chunks])
    np.testing.assert_allclose(values, recs[0].valence)
    # the reader sees the same frames
    ds = reader.make_dataset(str(tmp_path / "train"), window=4, batch_size=8, shuffle=False, keep_ids=True)
    _, _, meta = next(iter(ds))
    assert set(meta[F.RECORDING_ID].numpy()) == {b"rec/0"}

    before = {f: f.stat().st_mtime_ns for f in files}
    again = beam_job.run_preprocess("", "", tmp_path, IN_PROCESS, workers=1, processor=FAKE, recordings=recs,
                                    chunk_frames=5, chunk_overlap=2)
    assert again["resumed"] == 3 and again["written"] == 1 and again["failed"] == 0 and again["frames"] == 48
    assert {f: f.stat().st_mtime_ns for f in files} == before  # finished records are not rewritten
    assert len(_record_files(tmp_path)) == 4


@pytest.mark.slow
@pytest.mark.timeout(420)  # a hung worker becomes a failure, not a stuck CI
def test_interrupted_run_says_one_line_and_resumes_without_duplicates(tmp_path):
    root = tmp_path / "drop"
    synthetic.write_synthetic_drop(root, n_subjects=3, n_videos_per_subject=2, seconds=1.0, fps=10.0)
    out = tmp_path / "out"
    # the command and its Beam workers import the fake processor from this checkout's tests package
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    args = ["--dataset", "affwild2", "--root", str(root), "--output", str(out), "--workers", "2",
            "--processor", FAKE, "--"]
    cmd = [sys.executable, "-m", "affect_tf.cli", "preprocess", *args]
    # 6 recordings x 10 frames x 0.4 s: long enough to kill in the middle
    first = subprocess.Popen(cmd + ["--direct_running_mode=multi_processing", "--direct_num_workers=2"], env={**env, "AFFECT_TF_FAKE_SLEEP": "0.4"},
                             cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             preexec_fn=_sigint_as_in_a_terminal)
    deadline = time.time() + 240
    while time.time() < deadline and len(_record_files(out)) < 2:
        time.sleep(0.2)
    done_before_kill = len(_record_files(out))
    os.killpg(first.pid, signal.SIGINT)  # Ctrl-C in a terminal: the launcher and its workers
    output = first.communicate(timeout=60)[0].decode()
    assert 2 <= done_before_kill < 6, output[-3000:]
    # one line says so; no worker prints its KeyboardInterrupt traceback; nothing is left running
    signals = [l for l in open("/proc/self/status").read().splitlines() if l.startswith(("SigBlk", "SigIgn"))]
    assert first.returncode == 130 and "Traceback" not in output, (signals, output[-3000:])
    assert output.splitlines()[-1] == "affect-tf preprocess: interrupted"
    deadline = time.time() + 10
    while time.time() < deadline and _group_alive(first.pid):
        time.sleep(0.2)
    assert not _group_alive(first.pid)
    for path in _record_files(out):  # whatever is there is complete
        assert len(_read_all(path)) == 1
    assert not (out / "summary.json").exists()

    # the re-run may use any runner mode; in-process is quickest here
    second = subprocess.run(cmd + ["--direct_running_mode=in_memory"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recordings"] == 6 and summary["failed"] == 0
    assert summary["resumed"] >= done_before_kill and summary["resumed"] + summary["written"] == 6
    ids = []
    for path in _record_files(out):
        ids += [m[F.RECORDING_ID].numpy().decode() for _, _, m in _read_all(path)]
    assert sorted(ids) == sorted(r.id for r in adapters.load_manifest("affwild2", root))
    assert "resumed" in second.stderr  # progress lines name each recording


def _sigint_as_in_a_terminal():
    """Ctrl-C as a terminal's foreground job gets it: handled and unblocked. A child inherits an
    ignored or blocked SIGINT, and the test process may have had it left so by what ran in it
    before (the test failed only after other tests, never alone), which a user's shell never does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _bytes_by_name(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in _record_files(out)}


@pytest.mark.slow
@pytest.mark.timeout(420)  # a hung worker becomes a failure, not a stuck CI
def test_real_pipeline_on_synthetic_drop_two_workers_match_one(tmp_path):
    root = tmp_path / "drop"
    synthetic.write_synthetic_drop(root, n_subjects=3, n_videos_per_subject=1, seconds=2.0, fps=10.0)
    two = beam_job.run_preprocess("affwild2", root, tmp_path / "two", workers=2)
    one = beam_job.run_preprocess("affwild2", root, tmp_path / "one", IN_PROCESS, workers=1)
    assert two["failed"] == 0 and two["recordings"] == 3 and two["frames"] == 60
    assert two["faces_found"] == 60 and two["frames_without_audio"] == 0
    assert {k: v for k, v in one.items() if k != "seconds"} == {k: v for k, v in two.items() if k != "seconds"}
    assert _bytes_by_name(tmp_path / "two") == _bytes_by_name(tmp_path / "one")
    # the aligned faces carry the valence curve (brightness) the drop was made with
    ds = reader.make_dataset(str(tmp_path / "two" / "*"), window=20, batch_size=3, shuffle=False,
                             modalities=("face", "egemaps"))
    features, labels = next(iter(ds))
    face = features[F.FACE].numpy()
    assert face.shape == (3, 20, 96, 96, 3) and features[F.FACE_MASK].numpy().min() == 1
    brightness = face[:, :, 30:70, 25:70].mean(axis=(2, 3, 4))
    for b, v in zip(brightness, labels[F.TARGETS].numpy()[..., 0]):
        assert np.corrcoef(b, v)[0, 1] > 0.7
    assert np.abs(features[F.EGEMAPS].numpy()).sum() > 0


@pytest.mark.slow
@pytest.mark.timeout(420)  # a hung worker becomes a failure, not a stuck CI
def test_real_pipeline_on_afew_va_sample(shared_data, tmp_path):
    root = shared_data / "afew_va" / "001"
    two = beam_job.run_preprocess("afew_va", root, tmp_path / "two", workers=2, crop_size=128)
    one = beam_job.run_preprocess("afew_va", root, tmp_path / "one", IN_PROCESS, workers=1, crop_size=128)
    assert two["failed"] == 0 and two["frames"] == 42 and two["faces_found"] == 42
    assert two["frames_without_audio"] == 42  # AFEW-VA frames ship without audio
    assert _bytes_by_name(tmp_path / "two") == _bytes_by_name(tmp_path / "one")
    [(features, labels, meta)] = [
        schema.parse_sequence_example(s) for s in tf.data.TFRecordDataset(
            str(tmp_path / "two" / "train" / "001.tfrecord.gz"), compression_type="GZIP")]
    data = json.loads((root / "001.json").read_text())
    keys = sorted(data["frames"])
    np.testing.assert_allclose(labels[F.TARGETS].numpy()[:, 1], [data["frames"][k]["arousal"] / 10 for k in keys], atol=1e-6)
    assert features[F.FACE].shape == (42, 128, 128, 3) and meta["subject"].numpy() == b"Bruce Campbell"
    assert meta["label_scale"].numpy() == b"afew_va:-10..10" and float(meta["fps"]) == 25.0
