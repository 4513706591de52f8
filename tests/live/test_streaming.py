"""The streaming signature: chunks with the state carried by the client give what one call over
the whole sequence (offline ``predict``) gives, in this process and through the gRPC server."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from affect_tf import export
from affect_tf.inference import batch_inputs, load_model, spans
from affect_tf.live import LaggedMedian, StreamingPredictor, run_live
from affect_tf.postprocess import median_filter_per_dimension
from tests.live.conftest import fast_media_config, max_abs_diff, split_clip

CHUNKS = (1, 7, 80)


@pytest.mark.parametrize("windows", [(1, 1), (5, 3), (9, 1), (3, 81)])
def test_lagged_median_equals_the_offline_filter_run_by_run(windows):
    rng = np.random.default_rng(sum(windows))
    raw = rng.uniform(-1.2, 1.2, (300, 2))
    seen = np.repeat(rng.uniform(size=30) > 0.3, rng.integers(1, 20, 30))[:300]
    raw, seen = raw[:len(seen)], seen
    expected = np.full_like(raw, np.nan)
    for start, end in spans(seen):
        expected[start:end] = np.clip(median_filter_per_dimension(raw[start:end], windows), -1, 1)

    median, released, released_after = LaggedMedian(windows), [], {}
    for i, (value, visible) in enumerate(zip(raw, seen)):
        for row in median.push({"frame": i}, value if visible else None):
            released.append(row)
            released_after[row["frame"]] = i
    released += median.end_run()

    assert [row["frame"] for row in released] == list(range(len(raw)))  # in order, each once
    got = np.array([[np.nan if r["valence"] is None else r["valence"],
                     np.nan if r["arousal"] is None else r["arousal"]] for r in released])
    assert max_abs_diff(got, expected) < 1e-12
    # the fixed lag: never later than (window - 1) / 2 frames, earlier where a run ends
    lag = max(windows) // 2
    assert all(after - frame <= lag for frame, after in released_after.items())
    assert median.lag == lag
    assert len(median._values) == 0  # nothing kept after the last run


@pytest.fixture(scope="module")
def clip_items(shared_data):
    """The face items of a real clip, as the live source yields them (no audio: a face model)."""
    from affect_tf.media import FacePipeline, live_source

    clip = str(shared_data / "video" / "bbaf2n.mpg")
    demux = live_source.Demuxer(live_source.open_source(clip), clip, with_audio=False)
    items = list(FacePipeline(fast_media_config()).process_stream(demux.video_frames(), demux.rate))
    demux.close()
    assert len(items) == 75 and sum(it.face_present for it in items) > 60
    return items + items[:13]  # 88 frames: chunks of 80 and 7 leave a remainder


@pytest.mark.parametrize("where", ["in-process", "grpc"])
def test_stream_chunks_equal_one_call_over_the_whole_sequence(clip_items, stream_export, stream_server, where):
    model = load_model(stream_export if where == "in-process" else stream_server.target, warn=None)
    assert set(model.backend.state_shapes) == set(export.state_names(6))  # 3 taps x 2 GRU layers
    whole = model.backend(batch_inputs([clip_items], model.input_names))  # what predict computes
    reference = np.stack([whole["valence"][0], whole["arousal"][0]], -1)
    assert reference.std(axis=0).min() > 1e-3  # the values move, so a wrong state would show

    predictor = StreamingPredictor(model)
    diffs = {}
    for chunk in CHUNKS:
        predictor.reset()
        streamed = np.concatenate([predictor(clip_items[i:i + chunk]) for i in range(0, len(clip_items), chunk)])
        diffs[chunk] = max_abs_diff(streamed, reference)
    print(f"{where}: max |stream - whole| by chunk size {diffs}")
    assert max(diffs.values()) <= 1e-5, diffs
    if where == "grpc":  # the same server's REST front end, TF Serving's columnar JSON
        rest = np.concatenate([_rest_stream_chunk(stream_server, clip_items[i:i + 7], model, states)
                               for states in [_zero_states(model)] for i in range(0, 21, 7)])
        assert max_abs_diff(rest, reference[:21]) <= 1e-5
    # and without the state carried (zeros at each chunk), chunks would not match
    cold = np.concatenate([StreamingPredictor(model)(clip_items[i:i + 7]) for i in range(0, len(clip_items), 7)])
    assert max_abs_diff(cold, reference) > 1e-3


def _zero_states(model):
    return {name: np.zeros((1, *shape), np.float32) for name, shape in model.backend.state_shapes.items()}


def _rest_stream_chunk(server, items, model, states):
    """POST one chunk to ``/v1/models/affect:predict`` (signature serving_stream); ``states``
    (a dict) is replaced by the state the server returns, as a REST client holds it."""
    import http.client

    inputs = {**batch_inputs([items], model.input_names), **states}
    body = json.dumps({"signature_name": export.STREAM_SIGNATURE,
                       "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}})
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=60)
    connection.request("POST", "/v1/models/affect:predict", body, {"Content-Type": "application/json"})
    reply = connection.getresponse()
    payload = json.loads(reply.read())
    assert reply.status == 200, payload
    outputs = payload["outputs"]
    states.update({name: np.asarray(outputs[name], np.float32) for name in states})
    return np.stack([np.asarray(outputs["valence"])[0], np.asarray(outputs["arousal"])[0]], -1)


def test_live_over_a_file_equals_offline_predict(shared_data, stream_export):
    """End to end: decode, face tracking and a median window of 5 (output 2 frames late)."""
    clip = shared_data / "video" / "bbaf2n.mpg"
    model = load_model(stream_export, warn=None)
    offline = model.predict(clip, chunk_frames=10**6, median_window=5, media_config=fast_media_config())
    out = io.StringIO()
    summary = run_live(str(clip), model, out, chunk_frames=7, median_window=5, progress=None,
                       media_config=fast_media_config())
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert summary["frames"] == len(rows) == len(offline) == 75 and summary["median_lag_frames"] == 2
    assert [r["frame"] for r in rows] == list(range(75))
    for live_column, offline_column in (("valence", "valence"), ("arousal", "arousal"),
                                        ("valence_raw", "valence_raw"), ("face_x0", "face_x0")):
        live_values = [np.nan if r[live_column] is None else r[live_column] for r in rows]
        diff = max_abs_diff(live_values, offline[offline_column])
        assert diff <= (1e-5 if "valence" in live_column else 0.051), (live_column, diff)
    np.testing.assert_allclose([r["time_s"] for r in rows], offline["time_s"], atol=1e-4)
    assert all(r["latency_ms"] >= 0 for r in rows)


def test_a_model_without_the_streaming_signature_is_refused():
    class OldExport:  # what an export written before issue 26 (or of a look-ahead preset) offers
        state_shapes = None

    class Model:
        backend, description = OldExport(), "in-process models/old/1"

    with pytest.raises(ValueError, match="models/old/1: the export has no 'serving_stream' signature"):
        StreamingPredictor(Model())


def test_state_attention_lstm_continues_exactly_across_chunks():
    """AVi-GaS's sequence layer (001 eq. 9-12): chunks from the carried state = one call, the
    attention over earlier states included."""
    import keras

    from affect_tf.layers import StateAttentionLSTM

    keras.utils.set_random_seed(1)
    layer = StateAttentionLSTM(6, n_states=4)
    x = np.random.default_rng(1).normal(size=(2, 23, 5)).astype("float32")
    whole_h, whole_weights = (keras.ops.convert_to_numpy(v) for v in layer(x))
    state, parts = None, []
    for start in range(0, 23, 7):
        h, weights, state = layer(x[:, start:start + 7], initial_state=state, return_state=True)
        parts.append((keras.ops.convert_to_numpy(h), keras.ops.convert_to_numpy(weights)))
    assert [tuple(s.shape) for s in state] == [(2, *shape) for shape in layer.state_shapes()]
    assert max_abs_diff(np.concatenate([p[0] for p in parts], 1), whole_h) <= 1e-5
    assert max_abs_diff(np.concatenate([p[1] for p in parts], 1), whole_weights) <= 1e-5
    restarted = keras.ops.convert_to_numpy(layer(x[:, 7:14])[0])  # from zeros: differs
    assert max_abs_diff(restarted, whole_h[:, 7:14]) > 1e-3


def test_live_source_gives_predicts_frames_and_audio_features(shared_data):
    """The one-pass demuxer (a stream is read once for picture and sound) yields the frames,
    face crops, mel windows and eGeMAPS that predict's file reader gives."""
    import itertools

    from affect_tf.media import FacePipeline, live_source

    clip = str(shared_data / "video" / "lbax4n.mpg")
    pipeline = FacePipeline(fast_media_config())
    offline = list(itertools.islice(pipeline.process_video(clip), 15))
    demux = live_source.Demuxer(live_source.open_source(clip), clip, with_audio=True)
    live = list(itertools.islice(pipeline.process_stream(demux.video_frames(), demux.rate,
                                                         demux.audio_blocks(22050)), 15))
    demux.close()
    assert len(live) == 15 and all(it.audio_present and it.face_present for it in live)
    for a, b in zip(offline, live):
        assert a.timestamp == b.timestamp and np.array_equal(a.face, b.face)
        np.testing.assert_allclose(b.mel, a.mel, atol=1e-4)
        np.testing.assert_allclose(b.egemaps, a.egemaps, rtol=1e-5, atol=1e-5)
    assert np.ptp([it.egemaps[0] for it in live]) > 0  # real, moving features


def test_sound_from_another_source_gives_predicts_features_for_a_separate_audio_file(shared_data, tmp_path):
    """``live VIDEO --audio SOUND``: the picture and the sound come from two sources (a camera and
    a microphone); the features equal ``predict``'s for the video with that audio file."""
    import itertools

    from affect_tf.media import FacePipeline, live_source

    clip = shared_data / "video" / "lbax4n.mpg"
    picture, sound = str(tmp_path / "picture.mpg"), str(tmp_path / "sound.wav")
    split_clip(clip, picture, sound)
    pipeline = FacePipeline(fast_media_config())
    offline = list(itertools.islice(pipeline.process_video(picture, audio_path=sound), 15))
    demux = live_source.Demuxer(live_source.open_source(picture), picture, with_audio=True)
    assert demux.audio is None  # the picture alone has no sound
    heard = live_source.SoundSource(live_source.open_source(sound, need="audio"), sound)
    live = list(itertools.islice(pipeline.process_stream(demux.video_frames(), demux.rate,
                                                         heard.audio_blocks(22050)), 15))
    demux.close(), heard.close()
    assert len(live) == 15 and all(it.audio_present for it in live)
    for a, b in zip(offline, live):
        assert a.timestamp == b.timestamp
        np.testing.assert_allclose(b.mel, a.mel, atol=1e-4)
        np.testing.assert_allclose(b.egemaps, a.egemaps, rtol=1e-5, atol=1e-5)
    assert np.ptp([it.mel.mean() for it in live]) > 0.1  # real, moving sound


def test_speech_model_streams_a_picture_and_a_separate_sound_as_one_call_over_them(shared_data, tmp_path):
    """Implicit fusion's served branch (002: eGeMAPS -> GRUs, rnn_baseline_audio's shape) streams:
    ``live PICTURE --audio SOUND`` in chunks of 7 gives, frame by frame, what one call over the
    whole sequence of ``predict``'s features for that video and audio file gives."""
    import keras

    from affect_tf import features as F
    from affect_tf.media import FacePipeline
    from affect_tf.models.implicit_fusion.implicit_fusion import ImplicitFusionConfig

    keras.utils.set_random_seed(3)
    config = ImplicitFusionConfig(main="audio", alpha=0.0, units=6, specific_layers=1, shared_layers=2)
    model = config.model_class(config)
    model({F.EGEMAPS: np.zeros((1, 2, F.EGEMAPS_DIM), np.float32)})
    base = tmp_path / "speech_model"
    export.export_for_serving(model, base, version=1, metadata={"preset": "rnn_baseline_audio (test width)"},
                              signatures=export.make_serving_signatures(model, sequence_examples=False))
    served = load_model(base, warn=None)
    assert len(served.backend.state_shapes) == 3 and served.needs_audio

    clip = shared_data / "video" / "lbax4n.mpg"
    picture, sound = str(tmp_path / "picture.mpg"), str(tmp_path / "sound.wav")
    split_clip(clip, picture, sound)
    items = list(FacePipeline(fast_media_config()).process_video(picture, audio_path=sound))
    whole = served.backend(batch_inputs([items], served.input_names))
    reference = np.stack([whole["valence"][0], whole["arousal"][0]], -1)
    assert reference.std(axis=0).min() > 1e-3  # moving values: a wrong state or sound would show
    out = io.StringIO()
    run_live(picture, served, out, chunk_frames=7, progress=None, media_config=fast_media_config(),
             audio_source=sound)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == len(items) and all(r["audio_present"] for r in rows)
    streamed = [[r["valence_raw"], r["arousal_raw"]] for r in rows]
    assert max_abs_diff(streamed, reference) <= 1e-5


def test_per_frame_dilast_streams_with_no_state(tmp_path):
    """A per-frame model (001's DiLaST / ANCLaF) streams with nothing to carry: its export's
    serving_stream takes no state and gives serving_default's values."""
    import keras

    from affect_tf import features as F
    from affect_tf.models.adversarial.dilast import DiLaSTConfig

    keras.utils.set_random_seed(5)
    config = DiLaSTConfig(modality=F.MEL, image_size=128, generator_filters=2, residual_blocks=1, latent_block=1,
                          discriminator_filters=(4,) * 6, encoder_filters=(4,), features=4)
    model = config.model_class(config)
    model(config.dummy_inputs())
    base = tmp_path / "au_de"
    export.export_for_serving(model, base, version=1, metadata={"preset": "au_de (test width)"},
                              signatures=export.make_serving_signatures(model, sequence_examples=False))
    served = load_model(base, warn=None)
    assert served.backend.state_shapes == {}
    StreamingPredictor(served)  # accepted by live
    rng = np.random.default_rng(5)
    inputs = {F.MEL: rng.normal(size=(1, 6, F.N_MELS, F.MEL_FRAMES)).astype(np.float32),
              F.AUDIO_MASK: np.ones((1, 6), np.float32), F.FACE_MASK: np.zeros((1, 6), np.float32)}
    whole = served.backend(inputs)
    streamed = served.backend(inputs, signature=export.STREAM_SIGNATURE)
    assert np.ptp(whole["arousal"]) > 0
    for name in ("valence", "arousal"):
        np.testing.assert_allclose(streamed[name], whole[name], atol=1e-6)


def test_mel_only_audio_stream_keeps_bounded_audio():
    """Without eGeMAPS (a model reading only the mel window) the audio buffer still shrinks."""
    from affect_tf.media import MediaConfig
    from affect_tf.media.audio import AudioFeatureStream

    rng = np.random.default_rng(0)
    blocks = (rng.normal(0, 0.1, 22050).astype(np.float32) for _ in range(40))  # 40 s in 1 s blocks
    stream = AudioFeatureStream(blocks, MediaConfig(audio_block_s=0.25), with_egemaps=False)
    held = []
    for frame in range(0, 190):  # 5 frames/s over 38 s
        t = frame * 0.2
        assert stream.mel(t).shape == (128, 128)
        stream.release_before(t, 0.2)
        held.append(len(stream._buf) / 22050)
    assert max(held[50:]) < 6.0, max(held)  # seconds of audio kept: a window, not the recording
