import csv
import json
import re

import numpy as np
import pytest

from affect_tf.data import adapters, omg, recordings, timed_labels
from affect_tf.data.adapters import LayoutError


def test_omg_csv_parses_with_scales_and_counts_from_the_file(shared_data):
    path = shared_data / "omg" / "omg_ValidationVideos_head.csv"
    rows = list(csv.DictReader(path.open()))
    recordings = adapters.load_manifest("omg", path)
    assert len(recordings) == len(rows) == 35
    by_id = {r.id: r for r in recordings}
    first = by_id["74de88564/utterance_1"]
    assert first.split == "validation" and first.subject == "74de88564"
    # arousal 0..1 -> 2a - 1, valence stays on -1..1
    assert first.utterance_labels == pytest.approx((0.114515408794, 2 * 0.057386889393300014 - 1))
    assert first.start == pytest.approx(0.8757512496324611) and first.end == pytest.approx(16.93119082622758)
    assert first.label_scale.startswith("omg:") and first.valence is None
    for row in rows:
        rec = by_id[f"{row['video']}/{row['utterance'][:-4]}"]
        assert rec.utterance_labels == pytest.approx((float(row["valence"]), 2 * float(row["arousal"]) - 1))
    assert len({r.subject for r in recordings}) == len({row["video"] for row in rows})


def test_omg_annotator_file(shared_data):
    path = next((shared_data / "omg").glob("DetailedAnnotation_*.txt"))
    rows = omg.read_omg_annotator_file(path)
    assert rows == [{"arousal": 96.0, "valence": pytest.approx(90.3), "emotion": "Surprise"}]


def test_afew_va_json_parses_labels_landmarks_and_frames(shared_data):
    clip = shared_data / "afew_va" / "001"
    data = json.loads((clip / "001.json").read_text())
    [rec] = adapters.load_manifest("afew_va", clip)
    assert rec.id == "001" and rec.subject == data["actor"] == "Bruce Campbell"
    assert rec.n_labels == len(data["frames"]) == 42 and len(rec.frames) == 42
    keys = sorted(data["frames"])
    np.testing.assert_allclose(rec.valence, [data["frames"][k]["valence"] / 10 for k in keys])
    np.testing.assert_allclose(rec.arousal, [data["frames"][k]["arousal"] / 10 for k in keys])
    assert rec.arousal[0] == pytest.approx(0.5) and rec.valence[0] == 0.0
    np.testing.assert_allclose(rec.landmarks[7], data["frames"][keys[7]]["landmarks"])
    assert rec.landmarks.shape == (42, 68, 2) and rec.label_mask.min() == 1
    assert rec.frames[0].endswith("00000.jpg") and rec.fps == 25.0 and rec.label_scale == "afew_va:-10..10"
    # a folder of clips gives the same entry
    [again] = adapters.load_manifest("afew_va", shared_data / "afew_va")
    assert again.id == rec.id


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_affwild2_masks_unannotated_frames_and_reads_left_right(tmp_path):
    _write(tmp_path / "batch1" / "12-24-1920x1080.mp4", "")
    _write(tmp_path / "batch2" / "video5.avi", "")
    train = tmp_path / "annotations" / "VA_Set" / "Train_Set"
    _write(train / "12-24-1920x1080_left.txt", "valence,arousal\n0.5,0.25\n-5,-5\n-0.1,1.0\n")
    _write(train / "12-24-1920x1080_right.txt", "valence,arousal\n0.0,0.0\n")
    _write(tmp_path / "annotations" / "VA_Set" / "Validation_Set" / "video5.txt", "valence,arousal\n-1,-0.5\n")
    recs = {r.id: r for r in adapters.load_manifest("affwild2", tmp_path)}
    left = recs["12-24-1920x1080_left"]
    assert left.video.endswith("12-24-1920x1080.mp4") and left.split == "train"
    np.testing.assert_allclose(left.valence, [0.5, 0.0, -0.1])
    np.testing.assert_allclose(left.label_mask, [[1, 1], [0, 0], [1, 1]])
    assert recs["12-24-1920x1080_right"].subject != left.subject
    assert recs["video5"].split == "validation" and recs["video5"].video.endswith(".avi")


def test_affwild2_errors_name_the_file_and_stay_with_their_recording(tmp_path):
    _write(tmp_path / "good.mp4", "")
    _write(tmp_path / "Train_Set" / "good.txt", "valence,arousal\n0.1,0.2\n")
    label = _write(tmp_path / "Train_Set" / "ghost.txt", "valence,arousal\n0.1,0.2\n")
    good, ghost = adapters.load_affwild2(tmp_path)
    assert good.error is None and good.valence is not None
    assert re.fullmatch(r".*Train_Set/ghost.txt: no video named ghost.\* under .*", ghost.error)
    assert (ghost.id, ghost.split, ghost.video) == ("ghost", "train", None)
    _write(tmp_path / "ghost.mp4", "")
    label.write_text("valence,arousal\n0.1,3.0\n")
    assert re.search(r"ghost.txt: label 3.0 at row 1 is outside", adapters.load_affwild2(tmp_path)[1].error)
    label.write_text("")  # empty: an error, unless another set's file beside a good VA file
    assert re.search(r"ghost.txt: empty file", adapters.load_affwild2(tmp_path)[1].error)
    _write(tmp_path / "EXPR_Set" / "Train_Set" / "good.txt", "")
    assert [r.id for r in adapters.load_affwild2(tmp_path)] == ["good", "ghost"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match="empty: no Aff-Wild2"):
        adapters.load_affwild2(tmp_path / "empty")


def test_afew_va_errors_stay_with_their_clip(tmp_path):
    clip = tmp_path / "017"
    frames = {"00000": {"valence": 1, "arousal": -2, "landmarks": [[0, 0]] * 68}}
    _write(clip / "017.json", json.dumps({"actor": "a", "video_id": "017", "frames": frames}))
    _write(tmp_path / "018" / "018.json", json.dumps({"actor": "b", "video_id": "018", "frames": frames}))
    _write(tmp_path / "018" / "00000.png", "")
    bad, good = adapters.load_afew_va(tmp_path)
    assert re.search(r"017.json: frame 00000 has no image", bad.error) and good.error is None
    _write(clip / "017.json", "{not json")
    assert re.search(r"017.json: not an AFEW-VA annotation", adapters.load_afew_va(clip)[0].error)


def test_timed_labels_resample_by_linear_interpolation():
    times = np.array([0.0, 0.04, 0.08, 0.12], np.float32)
    values = np.array([0.0, 0.4, 0.8, 0.4], np.float32)
    out, mask = timed_labels.resample_to_frames(times, values, fps=10.0, n_frames=3)
    # frames at 0, 0.1 (between 0.08 and 0.12 -> 0.8 + 0.5 * -0.4), 0.2 (outside the annotation)
    np.testing.assert_allclose(out, [0.0, 0.6, 0.0], atol=1e-6)
    np.testing.assert_array_equal(mask, [1, 1, 0])


def test_recola_arff_and_sewa_csv_layouts(tmp_path, monkeypatch):
    monkeypatch.setattr(timed_labels, "video_fps", lambda path: 25.0)
    root = tmp_path / "recola"
    _write(root / "video" / "train_1.mp4", "")
    arff = "@relation GS\n@attribute Instance_name string\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n@data\n"
    _write(root / "ratings_gold_standard" / "arousal" / "train_1.arff", arff + "".join(f"'train_1',{i * 0.04:.2f},{i / 10}\n" for i in range(5)))
    _write(root / "ratings_gold_standard" / "valence" / "train_1.arff", arff + "".join(f"'train_1',{i * 0.04:.2f},{-i / 10}\n" for i in range(5)))
    [rec] = adapters.load_manifest("recola", root)
    assert rec.n_labels == 5 and rec.split == "train" and rec.fps == 25.0
    np.testing.assert_allclose(rec.arousal, [0, 0.1, 0.2, 0.3, 0.4], atol=1e-6)
    np.testing.assert_allclose(rec.valence, [0, -0.1, -0.2, -0.3, -0.4], atol=1e-6)
    sewa = tmp_path / "sewa"
    _write(sewa / "Devel_03.avi", "")
    _write(sewa / "labels" / "Devel_03.csv", "time;arousal;valence\n0.0;0.1;0.2\n0.1;0.3;0.4\n")
    [rec] = adapters.load_manifest("sewa", sewa)
    assert rec.split == "validation" and rec.n_labels == 3
    # frames at 0, 0.04, 0.08 s interpolate between the rows at 0 and 0.1 s
    np.testing.assert_allclose(rec.valence, [0.2, 0.28, 0.36], atol=1e-6)


@pytest.mark.parametrize("drop_root", ["data/latest/sewa", "home/x/constraints/sewa", "devel_backup/sewa"])
def test_timed_layout_split_ignores_the_folders_above_the_drop(tmp_path, monkeypatch, drop_root):
    monkeypatch.setattr(timed_labels, "video_fps", lambda path: 25.0)
    root = tmp_path / drop_root
    rows = "time;arousal;valence\n0.0;0.1;0.2\n0.1;0.3;0.4\n"
    for name, folder in (("P01", "labels"), ("P02", "Test/labels"), ("P03", "Devel")):
        _write(root / f"{name}.avi", "")
        _write(root / folder / f"{name}.csv", rows)
    splits = {r.id: r.split for r in adapters.load_manifest("sewa", root)}
    # "latest" holds "test", "constraints" holds "train", "devel_backup" is above the drop root
    assert splits == {"P01": "train", "P02": "test", "P03": "validation"}


def test_split_names_match_whole_words():
    names = {"Train_Set": "train", "omg_ValidationVideos": "validation", "Devel_03": "validation",
             "dev_1": "validation", "omg_TestVideos": "test", "TRAIN": "train",
             "constraints": None, "latest": None, "invalid": None, "VA_Set": None}
    assert {n: recordings.split_from_name(n) for n in names} == names


def test_csv_manifest_with_and_without_labels(tmp_path):
    _write(tmp_path / "media" / "a.mp4", "")
    _write(tmp_path / "media" / "b.mp4", "")
    _write(tmp_path / "labels" / "a.csv", "valence,arousal\n0.1,0.2\n,0.3\n")
    manifest = _write(tmp_path / "manifest.csv",
                      "recording,video,subject,labels,split\nA,media/a.mp4,p1,labels/a.csv,validation\nB,media/b.mp4,p2,,\n")
    a, b = adapters.load_manifest("csv", manifest)
    assert a.split == "validation" and a.video == str(tmp_path / "media" / "a.mp4")
    np.testing.assert_allclose(a.valence, [0.1, 0.0])
    np.testing.assert_array_equal(a.label_mask, [[1, 1], [0, 1]])
    assert b.split == "predict" and b.valence is None and b.utterance_labels is None
    _write(tmp_path / "bad.csv", "recording,video\nA,media/a.mp4\n")
    with pytest.raises(LayoutError, match=r"bad.csv: missing column\(s\) \['subject'\]"):
        adapters.load_manifest("csv", tmp_path / "bad.csv")
    _write(tmp_path / "bad2.csv", "recording,video,subject\nA,media/zzz.mp4,p\nB,media/a.mp4,q\n")
    bad, good = adapters.load_manifest("csv", tmp_path / "bad2.csv")  # a bad row is that row's error
    assert re.fullmatch(r".*bad2.csv: line 2: video .*zzz.mp4 not found", bad.error)
    assert good.error is None and good.video == str(tmp_path / "media" / "a.mp4")


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        adapters.load_manifest("nope", ".")


def test_subject_folds_are_reproducible_balanced_and_subject_independent():
    subjects = [f"s{i}" for i in range(10)]
    folds = recordings.subject_folds(subjects, n_folds=5, seed=3)
    assert folds == recordings.subject_folds(list(reversed(subjects)), n_folds=5, seed=3)
    assert sorted(np.bincount(list(folds.values()))) == [2] * 5
    assert folds != recordings.subject_folds(subjects, n_folds=5, seed=4)
    # adding a subject never moves the others' relative order
    recs = [adapters.Recording(id=f"{s}_{k}", video=None, audio=None, subject=s, split="train", fps=1)
            for s in subjects for k in range(3)]
    split = adapters.assign_subject_splits(recs, n_folds=5, fold=1, seed=3)
    for s in subjects:
        assert len({r.split for r in split if r.subject == s}) == 1
    held = {r.subject for r in split if r.split == "validation"}
    assert held == {s for s, f in folds.items() if f == 1}


def test_timed_and_omg_errors_stay_with_their_recording(tmp_path, monkeypatch):
    monkeypatch.setattr(timed_labels, "video_fps", lambda path: 25.0)
    root = tmp_path / "recola"
    for name in ("P1", "P2", "P3"):
        _write(root / f"{name}.mp4", "")
    _write(root / "valence" / "P1.csv", "time,value\n0,0.1\n0.1,0.2\n")
    _write(root / "arousal" / "P1.csv", "time,value\n0,0.1\n0.1,0.2\n")
    _write(root / "valence" / "P2.csv", "time,value\n0,0.1\n0.1,0.2\n")  # no arousal file
    _write(root / "P3.csv", "time,valence,arousal\n0.5,0,0\n0.2,0,0\n")  # time runs back
    _write(root / "P4.csv", "time,valence,arousal\n0,0,0\n1,0,0\n")  # no video
    _write(root / "notes.csv", "what,where\nx,y\n")  # not an annotation: ignored
    recs = {r.id: r for r in adapters.load_manifest("recola", root)}
    assert sorted(recs) == ["P1", "P2", "P3", "P4"] and recs["P1"].error is None
    assert recs["P2"].error == f"{root}/valence/P2.csv: no arousal/P2.csv|.arff beside it"
    assert recs["P3"].error == f"{root}/P3.csv: time stamps must increase (at least 2 rows)"
    assert recs["P4"].error == f"{root}/P4.csv: no video named P4.* under {root}"
    omg_list = _write(tmp_path / "omg_TrainVideos.csv", ",".join(omg.OMG_COLUMNS) + "\n"
                      + "l,0,1,v1,utterance_1.mp4,0.5,0.1,3\nl,zz,1,v1,utterance_2.mp4,0.5,0.1,3\n")
    good, bad = adapters.load_manifest("omg", omg_list)
    assert good.error is None and bad.id == "v1/utterance_2" and bad.split == "train"
    assert bad.error.startswith(f"{omg_list}: line 3 is malformed")
