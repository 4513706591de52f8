"""Export -> local gRPC/REST server -> client, against the in-process model (issue 8)."""
from __future__ import annotations

import grpc
import keras
import numpy as np
import pytest

from affect_tf import export
from affect_tf import features as F
from affect_tf.serving.client import RestServingClient, ServingClient
from affect_tf.serving.protocol import ServingError, to_tensor_proto
from affect_tf.testing.tiny_model import METADATA, MODEL_NAME, random_batch, train_tiny_model


def in_process(model, model_features):
    out = model(model_features, training=False)
    va = keras.ops.convert_to_numpy(out[F.TARGETS])
    return va[..., 0], va[..., 1], keras.ops.convert_to_numpy(out[F.ATTENTION])


def test_training_moved_the_weights(trained):
    _, losses = trained
    assert losses[-1] < losses[0], losses


def test_export_layout_metadata_and_configs(export_base, trained):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    version_dir = export_base / "1"
    assert (version_dir / "saved_model.pb").is_file() and (version_dir / "variables").is_dir()
    assert not [p for p in export_base.iterdir() if p.name.startswith(".tmp")]
    meta = export.read_metadata(version_dir)
    assert meta["preset"] == METADATA["preset"] and meta["version"] == 1
    assert meta["signatures"] == [export.DEFAULT_SIGNATURE, export.SEQUENCE_EXAMPLE_SIGNATURE]
    with pytest.raises(FileExistsError):
        export.export_for_serving(trained[0], export_base, version=1)

    text = export.models_config({MODEL_NAME: "/models/affect"}, "latest", num_versions=2)
    parsed = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (config,) = parsed.model_config_list.config
    assert (config.name, config.base_path, config.model_platform) == (MODEL_NAME, "/models/affect", "tensorflow")
    assert config.model_version_policy.latest.num_versions == 2
    parsed = text_format.Parse(export.models_config({"a": "/m/a"}, "specific", versions=[3, 5]),
                               model_server_config_pb2.ModelServerConfig())
    assert list(parsed.model_config_list.config[0].model_version_policy.specific.versions) == [3, 5]
    with pytest.raises(ValueError, match="specific"):
        export.models_config({"a": "/m/a"}, "specific")
    batching = export.batching_config(max_batch_size=16)
    assert "max_batch_size { value: 16 }" in batching and "pad_variable_length_inputs: true" in batching


def test_grpc_predict_matches_in_process(client, trained):
    model = trained[0]
    inputs, model_features, _ = random_batch(batch=2, frames=5, seed=3)
    out = client.predict(inputs)
    valence, arousal, attention = in_process(model, model_features)
    assert set(out) == {"valence", "arousal", "attention"}
    assert out["valence"].shape == (2, 5) and out["valence"].dtype == np.float32
    np.testing.assert_allclose(out["valence"], valence, atol=1e-5)
    np.testing.assert_allclose(out["arousal"], arousal, atol=1e-5)
    np.testing.assert_allclose(out["attention"], attention, atol=1e-5)
    assert client.last_model_version == 1
    # The uint8 -> [-1, 1] scaling is in the graph: a face change must move the output.
    inputs[F.FACE] = 255 - inputs[F.FACE]
    assert not np.allclose(client.predict(inputs)["valence"], out["valence"], atol=1e-6)


def test_grpc_sequence_example_signature_matches_in_process(client, trained):
    from affect_tf.data import schema

    model = trained[0]
    records, expected = [], []
    for seed, frames in ((1, 3), (2, 5)):  # different lengths in one request
        inputs, model_features, targets = random_batch(batch=1, frames=frames, seed=seed)
        records.append(schema.encode_recording(
            recording_id=f"rec{seed}", subject="s", split="test", fps=25.0,
            face=inputs[F.FACE][0], landmarks=inputs[F.LANDMARKS][0],
            face_mask=inputs[F.FACE_MASK][0], mel=inputs[F.MEL][0], egemaps=inputs[F.EGEMAPS][0],
            audio_mask=inputs[F.AUDIO_MASK][0], valence=targets[0, :, 0], arousal=targets[0, :, 1],
            label_mask=np.ones(frames), face_format="png"))
        expected.append(in_process(model, model_features))
    out = client.predict_sequence_examples(records)
    assert out["valence"].shape == (2, 5)
    np.testing.assert_array_equal(out[F.FRAME_MASK], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    for i, (valence, arousal, _) in enumerate(expected):
        n = valence.shape[1]
        np.testing.assert_allclose(out["valence"][i, :n], valence[0], atol=1e-5)
        np.testing.assert_allclose(out["arousal"][i, :n], arousal[0], atol=1e-5)


def test_sequence_example_signature_resizes_records_of_another_crop_size(trained, tmp_path):
    """Records of 96x96 crops served by a model taking 128x128 ones (the adversarial presets on
    the Beam job's default crops): the record signature feeds the model what training did."""
    import tensorflow as tf

    from affect_tf.data import reader, schema

    model = trained[0]
    inputs, _, targets = random_batch(batch=1, frames=4, seed=3)
    record = schema.encode_recording(
        recording_id="rec", subject="s", split="test", fps=25.0, face=inputs[F.FACE][0],
        landmarks=inputs[F.LANDMARKS][0], face_mask=inputs[F.FACE_MASK][0], mel=inputs[F.MEL][0],
        egemaps=inputs[F.EGEMAPS][0], audio_mask=inputs[F.AUDIO_MASK][0], valence=targets[0, :, 0],
        arousal=targets[0, :, 1], label_mask=np.ones(4), face_format="png")
    with tf.io.TFRecordWriter(str(tmp_path / "rec.tfrecord")) as writer:
        writer.write(record)
    (fed, _), = reader.make_dataset(str(tmp_path / "rec.tfrecord"), window=4, batch_size=1, shuffle=False,
                                    crop_size=128)
    assert fed[F.FACE].shape == (1, 4, 128, 128, 3)
    valence, arousal, _ = in_process(model, {k: v.numpy() for k, v in fed.items()})
    serve = export.make_serving_signatures(model, crop_size=128)[export.SEQUENCE_EXAMPLE_SIGNATURE]
    out = serve(tf.constant([record]))
    np.testing.assert_allclose(out["valence"].numpy(), valence, atol=1e-5)
    np.testing.assert_allclose(out["arousal"].numpy(), arousal, atol=1e-5)


def test_metadata_and_status(client):
    meta = client.get_metadata()
    assert meta["version"] == 1
    for key, value in METADATA.items():
        assert meta["metadata"][key] == value, key
    assert meta["metadata"]["crop_size"] == 96
    sigs = meta["signature_def"].signature_def
    assert set(sigs) == {export.DEFAULT_SIGNATURE, export.SEQUENCE_EXAMPLE_SIGNATURE}
    default = sigs[export.DEFAULT_SIGNATURE]
    assert set(default.inputs) == {F.FACE, F.LANDMARKS, F.MEL, F.EGEMAPS, F.FACE_MASK, F.AUDIO_MASK}
    assert default.inputs[F.FACE].dtype == 4  # DT_UINT8
    assert set(default.outputs) == {"valence", "arousal", "attention"}
    assert client.get_status()[1] == "AVAILABLE"


def _good_request_still_works(client):
    inputs, _, _ = random_batch(batch=1, frames=2, seed=9)
    assert client.predict(inputs, version=1)["valence"].shape == (1, 2)


def _bad_cases():
    inputs, _, _ = random_batch(batch=1, frames=2, seed=4)
    wrong_shape = {**inputs, F.LANDMARKS: inputs[F.LANDMARKS][..., :60, :]}
    wrong_dtype = {**inputs, F.FACE: inputs[F.FACE].astype("float32")}
    missing = {k: v for k, v in inputs.items() if k != F.MEL}
    extra = {**inputs, "pitch": np.zeros((1, 2), "float32")}
    frames_disagree = {**inputs, F.EGEMAPS: np.zeros((1, 3, F.EGEMAPS_DIM), "float32")}
    # ~106 MB of faces: over the server's 32 MB request limit.
    huge = {**inputs, F.FACE: np.zeros((1, 4000, 96, 96, 3), np.uint8)}
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    return [
        ("wrong shape", dict(inputs=wrong_shape), invalid, "landmarks"),
        ("wrong dtype", dict(inputs=wrong_dtype), invalid, "uint8"),
        ("missing input", dict(inputs=missing), invalid, "missing ['mel']"),
        ("extra input", dict(inputs=extra), invalid, "unexpected ['pitch']"),
        ("frames disagree", dict(inputs=frames_disagree), invalid, "disagree on the frame count"),
        ("100 MB payload", dict(inputs=huge), invalid, "limit"),
        ("unknown signature", dict(inputs=inputs, signature="classify"), invalid, "classify"),
        ("unknown version", dict(inputs=inputs, version=99), grpc.StatusCode.NOT_FOUND, "99"),
        ("unknown label", dict(inputs=inputs, version_label="canary"), grpc.StatusCode.NOT_FOUND, "canary"),
        ("unknown output", dict(inputs=inputs, output_filter=["gate"]), invalid, "gate"),
    ]


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_bad_requests_get_the_right_status_and_server_keeps_serving(client, case):
    _, kwargs, code, fragment = case
    with pytest.raises(ServingError) as info:
        client.predict(**kwargs)
    assert info.value.code == code, str(info.value)
    assert fragment in str(info.value)
    _good_request_still_works(client)


def test_unknown_model_and_malformed_tensor(server, client):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with ServingClient(server.target, "no_such_model") as other:
        for call in (lambda: other.predict({}), other.get_metadata, other.get_status):
            with pytest.raises(ServingError) as info:
                call()
            assert info.value.code == grpc.StatusCode.NOT_FOUND and "no_such_model" in str(info.value)
    # Raw proto whose tensor_content does not fill the declared shape.
    inputs, _, _ = random_batch(batch=1, frames=2, seed=5)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    for k, v in inputs.items():
        request.inputs[k].CopyFrom(to_tensor_proto(v))
    request.inputs[F.EGEMAPS].tensor_content = request.inputs[F.EGEMAPS].tensor_content[:-4]
    with grpc.insecure_channel(server.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "decode" in info.value.details()
    _good_request_still_works(client)


def test_rest_api(server, trained):
    rest = RestServingClient(f"http://127.0.0.1:{server.rest_port}", MODEL_NAME, timeout=30)
    inputs, model_features, _ = random_batch(batch=1, frames=3, seed=6)
    out = rest.predict(inputs, version=1)
    valence, arousal, _ = in_process(trained[0], model_features)
    np.testing.assert_allclose(out["valence"], valence, atol=1e-5)
    np.testing.assert_allclose(out["arousal"], arousal, atol=1e-5)
    assert rest.get_metadata(1)["metadata"]["preset"] == METADATA["preset"]
    assert rest.get_status()[1] == "AVAILABLE"
    with pytest.raises(ServingError) as info:
        rest.predict({**inputs, F.FACE: inputs[F.FACE].astype("float32") + 0.5}, version=1)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "uint8" in str(info.value)
    with pytest.raises(ServingError) as info:
        RestServingClient(rest.base_url, "nope", retries=0).get_status()
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_new_version_is_served_without_restart(server, client, export_base):
    new_model, _ = train_tiny_model(steps=3, seed=7)
    export.export_for_serving(new_model, export_base, metadata={"preset": "second"})
    assert (export_base / "2").is_dir()
    client.wait_until_available(version=2, timeout=60)
    inputs, model_features, _ = random_batch(batch=1, frames=4, seed=8)
    latest = client.predict(inputs)
    assert client.last_model_version == 2
    valence, _, _ = in_process(new_model, model_features)
    np.testing.assert_allclose(latest["valence"], valence, atol=1e-5)
    old = client.predict(inputs, version=1)
    assert not np.allclose(old["valence"], latest["valence"], atol=1e-4)
    assert client.get_metadata()["metadata"]["preset"] == "second"
    assert client.get_status() == {1: "AVAILABLE", 2: "AVAILABLE"}
