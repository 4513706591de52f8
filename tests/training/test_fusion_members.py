"""Model-level fusion from trained members (004 §5.4.1): every member weight loaded, and at step 0
the fused model computes each member's features exactly."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features
from affect_tf.config import config_from_json
from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnn
from affect_tf.models.cnn_rnn.fusion import ModelLevelFusionConfig
from affect_tf.training import TrainConfig, train_and_evaluate
from affect_tf.training.initial_weights import initial_weights
from tests.model_harness import random_inputs

SMALL = dict(crop_size=32, vgg_filters=(4, 4, 8, 8, 8), fc_units=16, rnn_units=8)
FUSION = ModelLevelFusionConfig(members=tuple(m.replace(**SMALL) for m in ModelLevelFusionConfig().members), units=8)


@pytest.fixture(scope="module")
def trained_members(tmp_path_factory):
    """Members with their own (random, seeded) weights and landmark statistics, saved as a user's
    `affect-tf train` leaves them."""
    tmp_path = tmp_path_factory.mktemp("members")
    paths, models = [], []
    for i, cfg in enumerate(FUSION.members):
        keras.utils.set_random_seed(100 + i)
        member = CnnRnn(config=cfg)
        member(random_inputs(cfg))
        member.standardization.set_statistics(features.LANDMARKS, np.full((features.N_LANDMARKS, 2), 0.3 * (i + 1)),
                                              np.full((features.N_LANDMARKS, 2), 2.0 + i))
        path = tmp_path / f"member{i + 1}" / "model.keras"
        path.parent.mkdir()
        member.save(path)
        paths.append(str(path if i == 0 else path.parent))  # a .keras file or a train work directory
        models.append(member)
    return paths, models


def assert_members_loaded(fused, members, atol=0.0):
    x = random_inputs(FUSION, batch=2, frames=3, seed=7)
    for ours, trained in zip(fused.members, members):
        assert len(ours.weights) == len(trained.weights)
        for a, b in zip(ours.weights, trained.weights):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, err_msg=a.path)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours.sequence_features(x)),
            keras.ops.convert_to_numpy(trained.sequence_features(x)), atol=max(atol, 1e-6) if atol else 0)


def test_fusion_starts_from_every_member_weight(trained_members):
    paths, members = trained_members
    cfg = TrainConfig(preset="cnn_3rnn_fusion_rnn", model=FUSION, fusion_members=tuple(paths))
    assert config_from_json(cfg.to_json()) == cfg  # travels to the TFX run_fn as JSON
    fused = FUSION.build()
    fused(random_inputs(FUSION))
    initial_weights(cfg)(fused)
    assert_members_loaded(fused, members)


def test_fusion_members_are_checked(trained_members, tmp_path):
    paths, _ = trained_members
    fused = FUSION.build()
    fused(random_inputs(FUSION))
    with pytest.raises(ValueError, match="2 members, got 1"):
        fused.load_members(paths[:1])
    with pytest.raises(ValueError, match="member 1 .* --small"):
        fused.load_members(paths[::-1])
    with pytest.raises(FileNotFoundError, match="member 2"):
        fused.load_members([paths[0], str(tmp_path / "nowhere.keras")])
    with pytest.raises(ValueError, match="not a model-level fusion"):
        single = FUSION.members[0]
        model = single.build()
        model(random_inputs(single))
        initial_weights(TrainConfig(model=single, fusion_members=(paths[0],)))(model)


@pytest.mark.slow
def test_train_starts_the_fusion_from_its_members(trained_members, tmp_path):
    """Through train_and_evaluate (hence `affect-tf train`, `run` and the TFX run_fn): one step at
    a negligible learning rate leaves the loaded members in place, statistics included."""
    paths, members = trained_members
    x = random_inputs(FUSION, batch=4, frames=4, seed=1)
    y = {features.TARGETS: np.zeros((4, 4, 2), "float32"), features.LABEL_MASK: np.ones((4, 4, 2), "float32")}
    x[features.FACE_MASK] = np.ones((4, 4), "float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    cfg = TrainConfig(preset="cnn_3rnn_fusion_rnn", model=FUSION, fusion_members=tuple(paths), epochs=1,
                      learning_rate=1e-12, tensorboard=False, early_stopping_patience=0)
    result = train_and_evaluate(cfg, tmp_path / "fusion", data)
    assert_members_loaded(result.model, members, atol=1e-6)
