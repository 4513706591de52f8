"""Bad input through the real commands (issue 14): each case ends in a one-line message naming
the file and the problem and a non-zero exit, never a traceback; a bad recording is listed in
``errors`` while the good ones are written exactly as in a clean run.

The manifest cases (tests/bad_input/cases.py) run as one ``affect-tf preprocess`` process over
every case and one over the good rows only (slow); the cases that stop a command before any
work runs call :func:`affect_tf.cli.main` in this process.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from affect_tf import cli
from affect_tf import features as F
from affect_tf.data.beam_job import safe_name
from tests.bad_input.cases import ADAPTER_ERRORS, BAD, GOOD, LONG_ID, make_adapter_drops, make_drop

AFFECT_TF = [sys.executable, "-m", "affect_tf.cli"]
IN_MEMORY = ["--", "--direct_running_mode=in_memory"]


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    return make_drop(tmp_path_factory.mktemp("drop"))


@pytest.fixture(autouse=True)
def restore_process_state():
    """``cli.main`` quietens the libraries for the process: put it back for the other tests."""
    env = dict(os.environ)
    levels = {name: logging.getLogger(name).level for name in ("absl", "tensorflow", "apache_beam")}
    yield
    os.environ.clear()
    os.environ.update(env)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _run(args, cwd=None):
    """The command in a fresh process with the environment of a plain shell (the test session
    sets TensorFlow's log level; a user has none)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS", "GRPC_VERBOSITY")}
    started = time.monotonic()
    done = subprocess.run([*AFFECT_TF, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=400)
    return done, time.monotonic() - started


def one_line_error(capsys, command: str) -> str:
    """The stderr of a failed command: exactly one line, ``affect-tf COMMAND: ...``."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"affect-tf {command}: "), err
    return err.strip()


def _read_records(path):
    import tensorflow as tf

    from affect_tf.data import schema

    return [schema.parse_sequence_example(s, decode_face=False)
            for s in tf.data.TFRecordDataset(str(path), compression_type="GZIP")]


# ---------------------------------------------------------------------------- one manifest

@pytest.fixture(scope="module")
def preprocessed(drop, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    runs = {}
    stale = out / "manifest" / "_tmp" / "good.4242.tfrecord.gz"  # left by a killed run
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"partial")
    for name in ("manifest", "clean"):
        done, seconds = _run(["preprocess", "--dataset", "csv", "--root", str(drop / f"{name}.csv"),
                              "--output", str(out / name), "--workers", "1", *IN_MEMORY])
        print(f"preprocess {name}.csv: {seconds:.1f} s")
        runs[name] = (done, out / name, json.loads((out / name / "summary.json").read_text()))
    return runs


@pytest.mark.slow
def test_bad_rows_are_listed_while_the_others_finish(preprocessed, drop):
    done, out, summary = preprocessed["manifest"]
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    # Quiet: the job's own lines and progress bar only (no TensorFlow, absl, Beam or warnings).
    for line in filter(str.strip, done.stderr.splitlines()):  # the bar redraws after "\r"
        assert line.startswith(("preprocess: ", "[preprocess pid ", "FAILED ", "WARNING ")), line
    assert f"preprocess: 100%|██████████| {len(GOOD) + len(BAD)}/{len(GOOD) + len(BAD)} " in done.stderr
    errors = {e["id"]: e["error"] for e in summary["errors"]}
    assert set(errors) == set(BAD)
    for rid, fragment in BAD.items():
        message = errors[rid]
        assert "\n" not in message and fragment.format(root=drop) in message, (rid, message)
        assert message.startswith((f"{drop}/", f"LayoutError: {drop}/", f"MediaError: {drop}/")), message
        assert f"FAILED {rid}: {message}\n" in done.stderr
    assert (summary["recordings"], summary["failed"], summary["written"]) == (len(GOOD) + len(BAD), len(BAD), len(GOOD))


@pytest.mark.slow
def test_good_recordings_are_byte_identical_to_a_clean_run(preprocessed):
    done, out, summary = preprocessed["manifest"]
    clean_done, clean, clean_summary = preprocessed["clean"]
    assert clean_done.returncode == 0 and clean_summary["failed"] == 0, clean_done.stderr
    records = sorted(p.relative_to(out) for p in out.glob("*/*.tfrecord.gz"))
    assert records == sorted(p.relative_to(clean) for p in clean.glob("*/*.tfrecord.gz"))
    assert sorted(p.name for p in records) == sorted(f"{safe_name(r)}.tfrecord.gz" for r in GOOD)
    for path in records:
        assert (out / path).read_bytes() == (clean / path).read_bytes(), path
    assert not (out / "_tmp").exists()  # a killed run's partial file is gone too


@pytest.mark.slow
def test_summary_agrees_with_the_files(preprocessed):
    for done, out, summary in preprocessed.values():
        stats = {s["id"]: s for s in map(json.loads, (p.read_text() for p in (out / "_stats").glob("*.json")))}
        written = {s["id"]: s for s in stats.values() if not s["error"]}
        for split, entry in summary["splits"].items():
            assert entry["recordings"] == len(list((out / split).glob("*.tfrecord.gz")))
            assert entry["frames"] == sum(s["frames"] for s in written.values() if s["split"] == split)
        assert summary["frames"] == sum(s["frames"] for s in written.values())
        assert summary["written"] == len(written) == len(GOOD)


@pytest.mark.slow
def test_what_the_good_cases_hold(preprocessed, drop):
    done, out, summary = preprocessed["manifest"]
    stats = {rid: json.loads((out / "_stats" / f"{safe_name(rid)}.json").read_text()) for rid in GOOD}
    frames = {rid: s["frames"] for rid, s in stats.items()}
    assert frames == {"good": 6, "mute": 6, "short_audio": 6, "timed": 6, "long_labels": 6, "odd_fps": 4,
                      "vfr": 6, "yuv444": 6, "grey": 6, "unicode/ünï cødé": 3, "speech": 6,
                      "nolabels": 6, "tail_cut": 7, "rotated": 6, "bom_labels": 6, "decimal_comma": 6,
                      LONG_ID: 6, "../../escape": 6}
    assert stats["mute"]["frames_without_audio"] == 6
    assert 0 < stats["short_audio"]["frames_without_audio"] < 6  # audio stops after 0.2 s
    assert stats["good"]["frames_without_audio"] == 0
    assert stats["odd_fps"]["fps"] == 7.5
    assert stats["speech"]["faces_found"] == 0
    assert stats["rotated"]["faces_found"] == stats["good"]["faces_found"] == 6  # turned upright
    assert stats["nolabels"]["frames_unlabelled"] == 6 and stats["good"]["frames_unlabelled"] == 0
    assert stats["long_labels"]["labels_beyond_video"] == 34
    warning = f"{drop}/long_labels.csv: 34 labels past the last frame (6 frames) ignored"
    assert "long_labels: done, 6 frames" in done.stderr and f"\nWARNING long_labels: {warning}\n" in done.stderr
    long_name = "x" * 187 + "~" + hashlib.sha256(LONG_ID.encode()).hexdigest()[:12]
    assert summary["warnings"] == [
        {"id": "../../escape", "warning": "recording id '../../escape' is written as '____..__escape' "
                                          "(a hidden file name otherwise)"},
        {"id": "long_labels", "warning": warning},
        {"id": LONG_ID, "warning": f"recording id {LONG_ID!r} is written as {long_name!r} (too long for a "
                                   f"file name otherwise)"}]


@pytest.mark.slow
def test_labels_with_a_byte_order_mark_or_decimal_commas_are_read_as_written(preprocessed):
    """Excel's "CSV UTF-8" (a BOM before the header) and ';'-separated decimal commas."""
    out = preprocessed["manifest"][1]
    for rid, valence, arousal in (("bom_labels", np.arange(6) / 50, -np.arange(6) / 50),
                                  ("decimal_comma", np.full(6, 0.1), np.full(6, 0.3))):
        (features, labels, _), = _read_records(out / "train" / f"{rid}.tfrecord.gz")
        np.testing.assert_allclose(labels[F.TARGETS].numpy(), np.stack([valence, arousal], -1), atol=1e-6)
        assert labels[F.LABEL_MASK].numpy().all()


@pytest.mark.slow
def test_ids_are_written_under_visible_names_the_file_system_takes(preprocessed):
    out = preprocessed["manifest"][1]
    names = [p.name for p in out.rglob("*") if p.is_file()]
    assert not [n for n in names if n.startswith(".") or len(n.encode()) > 255]
    assert (out / "predict" / "____..__escape.tfrecord.gz").is_file()
    assert [p.name for p in (out / "predict").glob("xxx*")] == [f"{safe_name(LONG_ID)}.tfrecord.gz"]
    assert not list(out.parent.glob("escape*"))


@pytest.mark.slow
def test_resume_with_other_record_options_is_refused(preprocessed, drop, capsys):
    """Records made at --crop-size 96 are not resumed into a run asking for 128 (the output
    would mix both, or claim 128): refused before any work, naming the option and both values."""
    done, out, summary = preprocessed["clean"]
    assert summary["settings"]["crop_size"] == 96 and summary["settings"]["mel_reference"] == "fixed"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert _preprocess(drop / "clean.csv", out, "--crop-size", "128") == 1
    assert one_line_error(capsys, "preprocess") == (
        f"affect-tf preprocess: {out}: its records were made with --crop-size 96, this run asks for "
        f"--crop-size 128; rerun with --crop-size 96 to resume, or write to another --output")
    assert _preprocess(drop / "clean.csv", out, "--mel-reference", "window_max") == 1
    assert one_line_error(capsys, "preprocess").startswith(
        f"affect-tf preprocess: {out}: its records were made with --mel-reference fixed, this run asks for "
        f"--mel-reference window_max;")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------------------- other adapters

@pytest.mark.slow
@pytest.mark.parametrize("dataset", sorted(ADAPTER_ERRORS))
def test_dataset_drop_lists_bad_recordings_while_the_good_one_is_written(drop, tmp_path, dataset):
    """A broken or unreadable annotation file, labels without their video or with an unreadable
    one: each is that recording's error, through the real command, and the good one is written."""
    root = make_adapter_drops(tmp_path / "drops", drop)[dataset]
    out = tmp_path / "out"
    done, seconds = _run(["preprocess", "--dataset", dataset, "--root", str(root), "--output", str(out),
                          "--workers", "1", "--quiet", *IN_MEMORY])
    print(f"preprocess {dataset}: {seconds:.1f} s")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    errors = {e["id"]: e["error"] for e in summary["errors"]}
    assert set(errors) == set(ADAPTER_ERRORS[dataset])
    for rid, fragment in ADAPTER_ERRORS[dataset].items():
        assert fragment.format(root=root) in errors[rid] and "\n" not in errors[rid], errors[rid]
        assert f"FAILED {rid}: {errors[rid]}\n" in done.stderr
    assert (summary["written"], summary["failed"], summary["frames"]) == (1, len(errors), 6)
    assert [p.relative_to(out).as_posix() for p in out.glob("*/*.tfrecord.gz")] == ["train/good.tfrecord.gz"]
    assert json.loads((out / "_stats" / "good.json").read_text())["frames_unlabelled"] == 0


# ---------------------------------------------------------------------------- stops before work

def _preprocess(root, out, *extra, dataset="csv"):
    return cli.main(["preprocess", "--dataset", dataset, "--root", str(root), "--output", str(out), *extra,
                     *IN_MEMORY])


def _manifest(tmp_path, text, name="m.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


STOPS = [
    ("missing manifest", None, (), "{m}: manifest CSV not found"),
    ("missing column", "recording,video\na,a.mp4\n", (), "{m}: missing column(s) ['subject']"),
    ("binary manifest", b"\xff\xfe\x00\x81garbage\n", (), "{m}: cannot read the manifest"),
    ("repeated id", "recording,video,subject\na,{v},s\na,{v},s\n", (), "{m}: line 3: recording id 'a' is empty or repeated"),
    ("header only", "recording,video,subject\n", (), "{m}: no recordings under the header"),
    ("chunk overlap", "recording,video,subject\na,{v},s\n", ("--chunk-frames", "8", "--chunk-overlap", "8"),
     "--chunk-overlap 8 must be in [0, --chunk-frames=8)"),
    ("processor typo", "recording,video,subject\na,{v},s\n", ("--processor", "nope.module:make"),
     "--processor 'nope.module:make' is not an importable 'module:factory'"),
]


@pytest.mark.parametrize("case, text, extra, fragment", STOPS, ids=[c[0] for c in STOPS])
def test_preprocess_stops_with_one_line_before_any_work(drop, tmp_path, capsys, case, text, extra, fragment):
    manifest = tmp_path / "m.csv"
    if text is not None:
        _manifest(tmp_path, text if isinstance(text, bytes) else text.format(v=drop / "good.mp4"))
    out = tmp_path / "out"
    assert _preprocess(manifest, out, *extra) == 1
    assert fragment.format(m=manifest) in one_line_error(capsys, "preprocess")
    assert not list(out.rglob("*.tfrecord*"))


def test_manifest_and_labels_with_a_byte_order_mark_read_as_without(drop, tmp_path):
    """Excel's "CSV UTF-8" starts the file with a BOM: not part of the first column's name."""
    from affect_tf.data import adapters

    labels = _manifest(tmp_path, "\ufeffvalence;arousal\n0,25;-0,5\n0,5;1\n".encode(), name="l.csv")
    manifest = _manifest(tmp_path, f"\ufeffrecording,video,subject,labels\na,{drop / 'good.mp4'},s,{labels}\n".encode())
    recording, = adapters.load_manifest("csv", manifest)
    assert recording.error is None and recording.id == "a"
    np.testing.assert_allclose(np.stack([recording.valence, recording.arousal], -1), [[0.25, -0.5], [0.5, 1.0]])


def test_every_dataset_reads_its_text_files_alike(drop, tmp_path):
    """One reader for every dataset's label text: an Aff-Wild2 drop and a RECOLA-layout one get
    the BOM, the decimal commas and the header-only file the CSV manifest gets."""
    from affect_tf.data import adapters

    video = (drop / "good.mp4").read_bytes()
    labels = {"bom": "\ufeffvalence;arousal\n0,25;-0,5\n", "comma": "valence,arousal\n0,25,-0,5\n",
              "header": "valence,arousal\n"}
    timed = {"bom": "\ufefftime;valence;arousal\n0;0,25;-0,5\n0,5;0,25;-0,5\n",
             "comma": "time,valence,arousal\n0,0,25,-0,5\n", "header": "time,valence,arousal\n"}
    for name in labels:
        for folder in ("aff", "recola"):
            (tmp_path / folder).mkdir(exist_ok=True)
            (tmp_path / folder / f"{name}.mp4").write_bytes(video)
        (tmp_path / "aff" / "Train_Set").mkdir(exist_ok=True)
        (tmp_path / "aff" / "Train_Set" / f"{name}.txt").write_bytes(labels[name].encode())
        (tmp_path / "recola" / f"{name}.csv").write_bytes(timed[name].encode())
    for dataset, folder, suffix in (("affwild2", "aff", "Train_Set/{}.txt"), ("recola", "recola", "{}.csv")):
        found = {r.id: r for r in adapters.load_manifest(dataset, tmp_path / folder)}
        assert found["bom"].error is None, found["bom"].error
        np.testing.assert_allclose([found["bom"].valence[0], found["bom"].arousal[0]], [0.25, -0.5])
        path = str(tmp_path / folder / suffix)
        assert found["header"].error == f"{path.format('header')}: no label rows under the header"
        assert found["comma"].error.startswith(f"{path.format('comma')}: line 2 has ")


def _colliding_drop(dataset, root, video):
    """A drop in ``dataset``'s layout with two recordings whose ids share a file name; returns
    the two ids, in the order the refusal names them, and the --root to give."""
    write = lambda path, content: (path.parent.mkdir(parents=True, exist_ok=True),
                                   (path.write_bytes if isinstance(content, bytes) else path.write_text)(content))
    labels = "valence,arousal\n0.1,0.2\n"
    if dataset == "affwild2":
        for name in ("a b", "a_b"):
            write(root / f"{name}.mp4", video)
            write(root / "Train_Set" / f"{name}.txt", labels)
        return ("a b", "a_b"), root
    if dataset == "recola":  # the layout SEWA and SEMAINE share
        for name in ("a b", "a_b"):
            write(root / f"{name}.mp4", video)
            write(root / f"{name}.csv", "time,valence,arousal\n0,0,0\n0.5,0.1,0.1\n")
        return ("a b", "a_b"), root
    if dataset == "afew_va":
        for clip, rid in (("1", "a/b"), ("2", "a__b")):
            frames = {"00000": {"valence": 1, "arousal": 1, "landmarks": [[0, 0]] * 68}}
            write(root / clip / f"{clip}.json", json.dumps({"actor": "x", "video_id": rid, "frames": frames}))
            write(root / clip / "00000.png", b"")
        return ("a/b", "a__b"), root
    if dataset == "omg":
        rows = [",".join(("l", "0", "1", name, "c.mp4", "0.5", "0", "1")) for name in ("a b", "a_b")]
        write(root / "omg_TrainVideos.csv", "link,start,end,video,utterance,arousal,valence,EmotionMaxVote\n"
              + "\n".join(rows) + "\n")
        return ("a b/c", "a_b/c"), root
    write(root / "v.mp4", video)
    write(root / "m.csv", "recording,video,subject\na/b,v.mp4,s\na__b,v.mp4,s\n")
    return ("a/b", "a__b"), root / "m.csv"


@pytest.mark.parametrize("dataset", ["affwild2", "recola", "afew_va", "omg", "csv"])
def test_ids_sharing_a_file_name_are_refused_before_any_work(drop, tmp_path, capsys, dataset):
    """``a/b`` and ``a__b`` (or ``a b`` and ``a_b``) would write one file: refused, whatever the
    adapter, before anything is written (file names stay as they are, so existing records and
    resumed runs keep theirs)."""
    (first, second), root = _colliding_drop(dataset, tmp_path / dataset, (drop / "good.mp4").read_bytes())
    out = tmp_path / "out"
    assert _preprocess(root, out, dataset=dataset) == 1
    assert one_line_error(capsys, "preprocess") == (
        f"affect-tf preprocess: {root}: recording ids {first!r} and {second!r} both map to the file name "
        f"{safe_name(first)!r}; rename one")
    assert not out.exists()


def test_preprocess_output_that_is_a_file(drop, tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("a file, not a folder")
    assert _preprocess(drop / "clean.csv", out) == 1
    assert str(out) in one_line_error(capsys, "preprocess")


def test_dataset_root_that_does_not_exist(tmp_path, capsys):
    assert _preprocess(tmp_path / "nowhere", tmp_path / "out", dataset="affwild2") == 1
    assert one_line_error(capsys, "preprocess") == (
        f"affect-tf preprocess: {tmp_path / 'nowhere'}: Aff-Wild2 root is not a folder")


def test_bad_option_value_is_a_usage_error_not_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        _preprocess(tmp_path / "m.csv", tmp_path / "out", "--workers", "two")
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert "affect-tf preprocess: error: argument --workers: invalid int value: 'two'" in err


# ---------------------------------------------------------------------------- train

@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Records written by the real Beam job (with the fake processor: the media do not matter
    here): ``train/`` holds a labelled recording, ``predict/`` one without labels."""
    from affect_tf.data import adapters, beam_job

    out = tmp_path_factory.mktemp("records")
    v = np.linspace(-1, 1, 8, dtype=np.float32)
    recordings = [
        adapters.Recording(id="labelled", video="/nowhere/a.mp4", audio=None, subject="a", split="train",
                           fps=10.0, valence=v, arousal=-v, label_mask=np.ones((8, 2), np.float32)),
        adapters.Recording(id="unlabelled", video="/nowhere/b.mp4", audio=None, subject="b", split="predict",
                           fps=10.0)]
    summary = beam_job.run_preprocess("", "", out, IN_MEMORY[1:], workers=1, recordings=recordings,
                                      processor="tests.data.fake_processor:ArrayProcessor")
    assert summary["written"] == 2, summary
    return out


def _train(tmp_path, *args):
    return cli.main(["train", "--out", str(tmp_path / "run"), "--epochs", "1", *args])


@pytest.mark.parametrize("train, val, what", [("train", "predict", "validation"), ("predict", None, "training")])
def test_train_on_records_without_labels_is_refused(records, tmp_path, capsys, train, val, what):
    """A model trained or picked on frames without labels learns nothing (val_loss 1.0, CCC 0)."""
    pattern = str(records / (val or train) / "*")
    assert _train(tmp_path, "--train", str(records / train / "*"), *(["--val", pattern] if val else [])) == 1
    assert one_line_error(capsys, "train") == (
        f"affect-tf train: {pattern}: no labelled frame in the {what} records (1 file, label_mask 0 "
        f"everywhere): these recordings came without labels (a predict split?)")
    assert not (tmp_path / "run" / "model.keras").exists()


def test_train_on_a_truncated_record_names_the_file(records, tmp_path, capsys):
    whole = (records / "train" / "labelled.tfrecord.gz").read_bytes()
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "labelled.tfrecord.gz").write_bytes(whole[:len(whole) // 2])
    assert _train(tmp_path, "--train", str(tmp_path / "cut" / "*")) == 1
    assert one_line_error(capsys, "train").startswith(
        f"affect-tf train: {tmp_path / 'cut' / 'labelled.tfrecord.gz'}: truncated or corrupt record file (")


def test_train_on_a_pattern_matching_no_records_says_what_it_matched(tmp_path, capsys):
    for i in range(10):
        (tmp_path / f"{i}.csv").write_text("valence,arousal\n0,0\n")
    assert _train(tmp_path, "--train", str(tmp_path / "*.csv")) == 1
    assert one_line_error(capsys, "train") == (
        f"affect-tf train: {tmp_path / '*.csv'}: matches 10 file(s) or folder(s) (0.csv, 1.csv, 2.csv, ...) "
        f"but no record file (*.tfrecord, *.tfrecord.gz, or a split folder of them)")


BAD_CONFIGS = [
    ("malformed JSON", '{"epochs": 3\n"batch_size": 2}', "not valid JSON: Expecting ',' delimiter at line 2 column 1"),
    ("wrong type, no type key", '{"epochs": "ten", "learning_rate": -1}', "TrainConfig.epochs must be an integer, got 'ten'"),
    ("out of range", '{"epochs": 2, "learning_rate": -1}', "TrainConfig.learning_rate must be > 0, got -1"),
    ("not an object", "[1, 2]", "expected a JSON object {...}, got list"),
]


@pytest.mark.parametrize("case, text, problem", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_train_bad_config_file_names_the_file_and_the_key(tmp_path, capsys, case, text, problem):
    config = tmp_path / "config.json"
    config.write_text(text)
    assert _train(tmp_path, "--config", str(config), "--train", str(tmp_path / "*")) == 1
    assert one_line_error(capsys, "train") == f"affect-tf train: {config}: {problem}"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", pytest.param("run", marks=pytest.mark.tfx)])  # run imports TFX
def test_freeze_backbone_without_backbone_weights_is_refused_before_anything_runs(tmp_path, capsys, command):
    args = ["--out", str(tmp_path / "work"), "--train", str(tmp_path / "*")] if command == "train" \
        else ["--work-dir", str(tmp_path / "work")]
    assert cli.main([command, "--freeze-backbone", *args]) == 1
    needs = {"train": "TrainConfig.freeze_backbone needs backbone_weights",  # the config's own check
             "run": "--freeze-backbone needs --backbone-weights"}[command]
    assert needs in one_line_error(capsys, command)
    assert not (tmp_path / "work").exists()


# ---------------------------------------------------------------------------- predict, serve

def test_predict_checks_out_before_loading_anything(drop, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    # --model does not exist either: the output folder is checked first, before any work
    code = cli.main(["predict", str(drop / "good.mp4"), "--model", str(tmp_path / "none"), "--out", str(taken)])
    assert code == 1
    assert one_line_error(capsys, "predict").startswith(f"affect-tf predict: {taken}: output folder cannot be written")


BAD_VIDEOS = [
    ("missing video", "nope.mp4", "{d}/nope.mp4: no such video file"),
    ("text as video", "text.mp4", "{d}/text.mp4: "),
    ("zero-byte video", "zero.mp4", "{d}/zero.mp4: "),
    ("truncated video", "truncated.mp4", "{d}/truncated.mp4: "),
]


@pytest.mark.parametrize("case, video, fragment", BAD_VIDEOS, ids=[c[0] for c in BAD_VIDEOS])
def test_predict_bad_video(drop, export_base, tmp_path, capsys, case, video, fragment):
    code = cli.main(["predict", str(drop / video), "--model", str(export_base), "--out", str(tmp_path)])
    assert code == 1
    assert fragment.format(d=drop) in one_line_error(capsys, "predict")
    assert not list(tmp_path.iterdir())


def test_predict_model_folder_without_a_model(drop, tmp_path, capsys):
    assert cli.main(["predict", str(drop / "good.mp4"), "--model", str(tmp_path), "--out", str(tmp_path)]) == 1
    assert f"{tmp_path}: no SavedModel here nor in any <version>/ folder" in one_line_error(capsys, "predict")


@pytest.mark.parametrize("video", ["good", "rotated"])
def test_predict_defaults_out_to_predictions(drop, export_base, tmp_path, monkeypatch, capsys, video):
    """Into ./predictions/; the sideways, mirrored phone video finds its face in every frame."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", str(drop / f"{video}.mp4"), "--model", str(export_base), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("6 frames (6 with a face): ")
    assert sorted(p.name for p in (tmp_path / "predictions").iterdir()) == [f"{video}.{ext}" for ext in ("csv", "json", "png")]
    assert len((tmp_path / "predictions" / f"{video}.csv").read_text().splitlines()) == 1 + 6


def test_verbose_shows_the_traceback(drop, tmp_path, capsys):
    assert cli.main(["predict", "-v", str(tmp_path / "nope.mp4"), "--model", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1] == f"affect-tf predict: {tmp_path / 'nope.mp4'}: no such video file"


def test_serve_missing_model_folder(tmp_path, capsys):
    assert cli.main(["serve", f"affect={tmp_path / 'none'}", "--port", "0"]) == 1
    assert one_line_error(capsys, "serve") == f"affect-tf serve: {tmp_path / 'none'}: model base directory does not exist"


def test_help_has_a_line_for_every_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "(from " not in out
    for name, (_, help_text) in cli._all_commands().items():
        assert len(help_text) > 10 and help_text in " ".join(out.split()), name

