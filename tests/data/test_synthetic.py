import json

import av
import numpy as np
import pytest

from affect_tf.data import adapters, synthetic


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    names = synthetic.write_synthetic_drop(root, n_subjects=3, n_videos_per_subject=1, seconds=3.0, fps=10.0, seed=5)
    return root, names


def _frames(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _audio(path):
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        return np.concatenate([f.to_ndarray().mean(0) for f in c.decode(stream)]), stream.rate


def test_drop_goes_through_the_real_affwild2_adapter(drop):
    root, names = drop
    recs = adapters.load_manifest("affwild2", root)
    assert [r.id for r in recs] == sorted(names) and len(names) == 3
    assert {r.split for r in recs} == {"train", "validation"}
    assert {r.subject for r in recs} == {"subject00", "subject01", "subject02"}
    curves = json.loads((root / "curves.json").read_text())["curves"]
    for r in recs:
        assert r.n_labels == 30 and len(_frames(r.video)) == 30
        np.testing.assert_allclose(r.valence, np.array(curves[r.id])[:, 0], atol=1e-4)
        np.testing.assert_allclose(r.arousal, np.array(curves[r.id])[:, 1], atol=1e-4)


def test_deterministic_for_a_seed(drop, tmp_path):
    """Two writes with one seed give the same files, byte for byte (x264's AVX-512 routines made
    the video differ from run to run on CPUs that have them: issue 17)."""
    root, names = drop
    synthetic.write_synthetic_drop(tmp_path, n_subjects=3, n_videos_per_subject=1, seconds=3.0, fps=10.0, seed=5)
    written = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(written) == 2 * len(names) + 2  # video + labels each, subjects.csv, curves.json
    for rel in written:
        assert (root / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
    for name in names:
        np.testing.assert_array_equal(_frames(root / "videos" / f"{name}.mp4"), _frames(tmp_path / "videos" / f"{name}.mp4"))
    other = synthetic.label_curves(30, 10.0, np.random.default_rng([6, 0, 0]))
    assert not np.allclose(other, json.loads((root / "curves.json").read_text())["curves"][names[0]])


def test_face_and_audio_follow_the_curves(drop):
    """Independent measurements on the decoded media track the known labels."""
    root, names = drop
    curves = json.loads((root / "curves.json").read_text())["curves"]
    for name in names:
        va = np.array(curves[name])
        frames = _frames(root / "videos" / f"{name}.mp4").astype(np.float32)
        centre = frames[:, 60:170, 60:170]
        brightness = centre.mean(axis=(1, 2, 3))
        saturation = (centre.max(-1) - centre.min(-1)).mean(axis=(1, 2))
        assert np.corrcoef(brightness, va[:, 0])[0, 1] > 0.8
        assert np.corrcoef(saturation, va[:, 1])[0, 1] > 0.6
        signal, rate = _audio(root / "videos" / f"{name}.mp4")
        hop = rate // 10
        n = min(len(va), len(signal) // hop)
        loudness, pitch = [], []
        for i in range(n):
            piece = signal[i * hop:(i + 1) * hop]
            loudness.append(np.sqrt(np.mean(piece ** 2)))
            spectrum = np.abs(np.fft.rfft(piece * np.hanning(len(piece)), 8 * len(piece)))
            freqs = np.fft.rfftfreq(8 * len(piece), 1 / rate)
            band = (freqs > 80) & (freqs < 400)
            pitch.append(freqs[band][np.argmax(spectrum[band])])
        assert np.corrcoef(pitch, va[:n, 1])[0, 1] > 0.9
        assert np.corrcoef(loudness, va[:n, 1])[0, 1] > 0.8


def test_synth_command_writes_a_drop(tmp_path, capsys):
    from affect_tf import cli

    assert cli.main(["synth", "--output", str(tmp_path), "--subjects", "2", "--videos-per-subject", "1",
                     "--seconds", "0.5", "--fps", "10"]) == 0
    assert "wrote 2 videos" in capsys.readouterr().out
    recs = adapters.load_manifest("affwild2", tmp_path)
    assert [r.n_labels for r in recs] == [5, 5] and [r.split for r in recs] == ["train", "validation"]
