"""Per-frame audio features against librosa and openSMILE called directly on the same samples."""
import librosa
import numpy as np
import opensmile
import pytest

from affect_tf.media import MediaConfig
from affect_tf.media.audio import AudioFeatureStream

from tests.media.synthetic_media import speechlike

SR = 22050


def blocks_of(signal, sizes):
    """Split ``signal`` into blocks of cycling ``sizes`` (the stream must not care)."""
    out, start, i = [], 0, 0
    while start < len(signal):
        out.append(signal[start:start + sizes[i % len(sizes)]])
        start += sizes[i % len(sizes)]
        i += 1
    return out


def reference_mel_window(full_power, centre, width=128, top_db=80.0, reference="fixed"):
    """The window from librosa on the whole signal: dB re power 1.0 floored at -80, or (window_max)
    re the window's maximum."""
    first = centre - width // 2
    cols = [j for j in range(first, first + width) if 0 <= j < full_power.shape[1]]
    if reference == "fixed":
        db = np.maximum(10 * np.log10(np.maximum(full_power[:, cols], 1e-10)), -top_db)
    else:
        db = librosa.power_to_db(full_power[:, cols], ref=np.max, top_db=top_db)
    out = np.full((full_power.shape[0], width), -top_db, np.float32)
    out[:, [j - first for j in cols]] = db
    return out


@pytest.mark.parametrize("reference", ["fixed", "window_max"])
def test_mel_windows_equal_librosa_on_whole_signal(reference):
    cfg = MediaConfig(audio_block_s=0.7, mel_reference=reference)  # several STFT blocks inside the signal
    signal = speechlike(4.0, SR, seed=1)
    full = librosa.feature.melspectrogram(y=signal, sr=SR, n_fft=cfg.n_fft,
                                          hop_length=cfg.hop_length, n_mels=128)
    stream = AudioFeatureStream(blocks_of(signal, [3001, 777, 12000]), cfg)
    fps = 25.0
    for k in range(0, int(4.0 * fps) + 3):  # includes frames past the end of the audio
        t = k / fps
        got = stream.mel(t)
        want = reference_mel_window(full, int(round(t * SR / cfg.hop_length)), reference=reference)
        assert got.shape == (128, 128) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=2e-3, err_msg=f"frame {k}")
        stream.release_before(t, 1 / fps)
    assert got.min() >= -80.0 and (reference == "fixed" or got.max() <= 1e-4)


@pytest.mark.parametrize("reference", ["fixed", "window_max"])
def test_mel_window_of_silence_is_the_floor(reference):
    stream = AudioFeatureStream([np.zeros(SR * 2, np.float32)], MediaConfig(mel_reference=reference))
    np.testing.assert_array_equal(stream.mel(1.0), -80.0)


def test_fixed_reference_keeps_loudness():
    """001 §3.4 by hand: the same speech 10x quieter is 20 dB lower (above the floor) against a
    fixed reference; against each window's maximum the two windows are the same."""
    signal = speechlike(3.0, SR, seed=3)
    loud, quiet = (AudioFeatureStream([gain * signal], MediaConfig()).mel(1.5) for gain in (1.0, 0.1))
    above = quiet > -80.0 + 1e-3
    assert above.mean() > 0.5
    np.testing.assert_allclose((loud - quiet)[above], 20.0, atol=1e-2)
    loud, quiet = (AudioFeatureStream([gain * signal], MediaConfig(mel_reference="window_max")).mel(1.5)
                   for gain in (1.0, 0.1))
    np.testing.assert_allclose(loud, quiet, atol=1e-3)


def pooled_reference(signal, timestamps, duration, context):
    """openSMILE on the whole signal, LLD frames (centre = start + 10 ms) averaged per span."""
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02,
                            opensmile.FeatureLevel.LowLevelDescriptors)
    table = smile.process_signal(signal, SR)
    centres = table.index.get_level_values("start").total_seconds().to_numpy() + 0.01
    values = table.to_numpy()
    out = []
    for t in timestamps:
        sel = (centres >= t - context * duration) & (centres < t + (1 + context) * duration)
        out.append(values[sel].mean(0) if sel.any() else np.zeros(25))
    return np.array(out), table.shape


@pytest.mark.parametrize("context", [0, 1])
def test_egemaps_equal_opensmile_on_whole_signal(context):
    # 1 s openSMILE blocks: several block edges inside a 3.5 s signal.
    cfg = MediaConfig(egemaps_block_s=1.0, egemaps_margin_s=0.6, egemaps_context=context)
    signal = speechlike(3.5, SR, seed=2)
    fps = 25.0
    timestamps = [k / fps for k in range(int(3.5 * fps))]
    want, shape = pooled_reference(signal, timestamps, 1 / fps, context)
    assert shape[1] == 25
    stream = AudioFeatureStream(blocks_of(signal, [5000, 20000]), cfg)
    got = []
    for t in timestamps:
        got.append(stream.egemaps(t, 1 / fps))
        stream.release_before(t, 1 / fps)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-4)
    assert np.abs(want).sum() > 0


def _peak_buffered(seconds, cfg):
    """Largest number of samples, mel columns and LLD frames held at once over a recording."""
    rng = np.random.default_rng(0)
    blocks = (0.1 * rng.normal(size=SR).astype(np.float32) for _ in range(seconds))
    stream = AudioFeatureStream(blocks, cfg)
    peak = np.zeros(3, int)
    for k in range(0, seconds * 25, 5):
        t = k / 25
        stream.mel(t)
        stream.egemaps(t, 0.04)
        stream.release_before(t, 0.04)
        held = [stream._buf.size, stream._cols.shape[1], stream._lld_t.size]
        peak = np.maximum(peak, held)
    return peak


def test_audio_memory_does_not_grow_with_length():
    cfg = MediaConfig(egemaps_block_s=2.0, audio_block_s=1.0)
    short, long = _peak_buffered(8, cfg), _peak_buffered(32, cfg)
    np.testing.assert_array_less(long, short * 1.1 + 2)
    # one openSMILE block with its margins, one mel window and one STFT block, no more
    assert long[0] < (2.0 + 2 * 1.0 + 3.0 + 1.0) * SR
    assert long[1] < 128 + SR // 512 + 2
    assert long[2] < (2.0 + 0.1) * 100
