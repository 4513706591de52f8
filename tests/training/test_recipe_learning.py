"""The adversarial recipes learn on the synthetic drop (issue 11): AEG-CD-SZ (``000``, one
adversarial stage), Vi-DeS (``001``: front end, ZQ latents, SA-2 -> SA-4) and ANCLaF-SA-n (``003``:
front end, latents, S-2 -> SA-2), CPU-sized, trained with ``train_and_evaluate`` on the records
the Beam job writes from the drop and scored on its held-out subjects. Each test measures the same
model untrained (random weights, feature statistics fitted) on the same records: it stays near
CCC 0, below the bar the trained model clears.

The drop shows valence in the face (mouth, brightness) and arousal in the face (saturation, head
shake) and the audio (pitch, loudness): both dimensions are learnable from faces alone."""
import shutil

import keras
import pytest

from affect_tf import presets
from affect_tf.data import beam_job, synthetic
from affect_tf.data.feature_statistics import prepare_inputs
from affect_tf.training import TrainConfig, registry, train_and_evaluate
from affect_tf.training.fitting import make_data

pytestmark = pytest.mark.slow

# 32x32 faces (the 96x96 crops resized by the reader), four stride-2 convs down to D's 2x2 head
TINY_FRONT_END = dict(image_size=32, generator_filters=4, residual_blocks=1, latent_block=1,
                      discriminator_filters=(4, 8, 16, 16), encoder_filters=(8, 8), features=16)
TRAINING = dict(epochs=4, window=8, batch_size=4, learning_rate=3e-3, tensorboard=False, early_stopping_patience=0)
# Held-out frame-level mean CCC the trained models must reach (measured 0.62, 0.62-0.85, 0.86 over
# seeds; valence is the easier dimension at 32x32); untrained ones stay below 0.2 (measured -0.08-0.06).
BAR = 0.45


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Records of a 6-subject synthetic drop (4 training, 2 held-out subjects, 40 frames each)."""
    root = tmp_path_factory.mktemp("synthetic_drop")
    synthetic.write_synthetic_drop(root / "drop", n_subjects=6, n_videos_per_subject=1, seconds=4.0, fps=10.0)
    summary = beam_job.run_preprocess("affwild2", root / "drop", root / "records", ["--direct_running_mode=in_memory"],
                                      workers=1)
    assert summary["failed"] == 0 and summary["splits"]["validation"]["recordings"] == 2, summary
    return {split: [str(root / "records" / split / "*")] for split in ("train", "validation")}


def _config(preset, **model):
    cfg = presets.get_preset(preset).config.replace(**model)
    return TrainConfig.for_preset(preset, model=cfg, **TRAINING)


def _untrained_mean_ccc(train_config, records):
    """The final model with random weights (its feature statistics fitted) on the held-out records."""
    cfg = train_config.model_config()
    keras.utils.set_random_seed(train_config.seed)
    model = cfg.build()
    dummy = cfg.dummy_inputs()
    model(dummy)
    prepare_inputs(model, train_config, make_data(records["train"], train_config, cfg, training=True))
    trainer = registry.trainer_class(cfg)(model, train_config)
    trainer(dummy)
    trainer.compile_for(train_config)
    logs = trainer.evaluate(make_data(records["validation"], train_config, cfg, training=False), return_dict=True,
                            verbose=0)
    return float(logs["mean_ccc"])


def _train(train_config, records, workdir):
    """(the untrained model's held-out mean CCC, the recipe's TrainResult)."""
    untrained = _untrained_mean_ccc(train_config, records)
    return untrained, train_and_evaluate(train_config, workdir, records["train"], records["validation"])


def _assert_learned(train_config, untrained, result):
    scores = {"untrained": round(untrained, 3), **{k: round(v, 3) for k, v in result.metrics.items() if "ccc" in k}}
    print(train_config.preset, scores, {k: v.get("val_mean_ccc") for k, v in result.stages.items()})
    assert result.metrics["val_mean_ccc"] >= BAR > 0.2 > untrained, scores


@pytest.fixture(scope="module")
def vi_des(records, tmp_path_factory):
    """Vi-DeS trained through its recipe (its front-end stage is also ANCLaF's: same G, D, P)."""
    workdir = tmp_path_factory.mktemp("vi_des")
    train_config = _config("vi_des", n_states=4, lstm_units=16, **TINY_FRONT_END)
    return (train_config, workdir, *_train(train_config, records, workdir))


def test_vi_des_recipe_learns_on_the_synthetic_drop(vi_des):
    train_config, _, untrained, result = vi_des
    _assert_learned(train_config, untrained, result)
    assert list(result.stages) == ["01_frontend_face", "02_latents", "03_sa_2", "04_sa_4"]
    assert result.stages["01_frontend_face"]["val_mean_ccc"] > 0.2  # the front end itself learned


def test_anclaf_sa_recipe_learns_on_the_synthetic_drop(vi_des, records, tmp_path):
    """ANCLaF-SA-2: the S-2 stage, then SA-2 warm-started from it. Its front-end stage trains the
    same per-frame model as Vi-DeS's, so it is taken from that run (a rerun skips a finished stage
    of the same config); latents and sequence stages run here."""
    train_config = _config("anclaf_sa_2", lstm_units=16, **TINY_FRONT_END)
    frontend = tmp_path / "stages" / "01_frontend_face"
    shutil.copytree(vi_des[1] / "stages" / "01_frontend_face", frontend)
    untrained, result = _train(train_config, records, tmp_path)
    _assert_learned(train_config, untrained, result)
    assert list(result.stages) == ["01_frontend_face", "02_latents", "03_s_2", "04_sa_2"]


def test_aeg_cd_sz_learns_on_the_synthetic_drop(records, tmp_path):
    """AEG-CD-SZ: faces and eGeMAPS through the conditional discriminator, one adversarial stage."""
    train_config = _config("aeg_cd_sz", image_size=32, generator_filters=2, discriminator_filters=(4, 8, 16, 16))
    _assert_learned(train_config, *_train(train_config, records, tmp_path))
