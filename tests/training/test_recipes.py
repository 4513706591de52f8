"""Training recipes (issue 11): stages per preset, warm starts along the curriculum, the latent
cache's windows, resume after a killed stage, and a clear error on a mismatched earlier stage."""
import json

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from affect_tf import features, presets
from affect_tf.data import latents
from affect_tf.models.adversarial.adversarial_model import copy_matching_weights
from affect_tf.models.adversarial.latent_encoder import quadrant
from affect_tf.models.adversarial.sequence import LatentSequenceConfig
from affect_tf.training import TrainConfig, recipes, train_and_evaluate
from affect_tf.training import fitting

from tests.models.adversarial_tasks import two_modality_task

TINY = dict(image_size=16, generator_filters=2, residual_blocks=2, latent_block=1,
            discriminator_filters=(4, 4, 4), encoder_filters=(4,), features=4, lstm_units=4)


def stage_names(preset, **train):
    return [s.name for s in recipes.recipe_for(TrainConfig.for_preset(preset, **train))]


def test_recipes_follow_the_papers():
    assert stage_names("anclaf_s_2") == ["frontend_face", "latents", "s_2"]
    assert stage_names("anclaf_s_16") == ["frontend_face", "latents", "s_2", "s_4", "s_8", "s_16"]
    assert stage_names("anclaf_sa_8") == ["frontend_face", "latents", "s_2", "s_4", "s_8", "sa_8"]
    assert stage_names("vi_des") == ["frontend_face", "latents", "sa_2", "sa_4", "sa_8"]
    assert stage_names("avi_gas") == ["frontend_face", "frontend_mel", "latents", "sa_2", "sa_4", "sa_8"]
    for one_stage in ("aeg_cd_sz", "disc", "anclaf", "vi_de", "cnn_3rnn_2ndpool_lastpool_fc"):
        assert stage_names(one_stage) == ["train"], one_stage
    # retraining from a blessed model runs the final stage only
    assert stage_names("avi_gas", warm_start="blessed.keras") == ["train"]
    recipe = recipes.recipe_for(TrainConfig.for_preset("anclaf_sa_8"))
    assert [s.window for s in recipe[2:]] == [2, 4, 8, 8]
    assert [s.start_from for s in recipe[2:]] == [("frontend_face",), ("s_2",), ("s_4",), ("s_8",)]
    assert recipe[-1].model == presets.get_preset("anclaf_sa_8").config
    with pytest.raises(ValueError, match="window must be >= 32"):
        recipes.recipe_for(TrainConfig.for_preset("anclaf_s_32", window=16))
    # the paper's training settings come with the preset; explicit values override them
    assert TrainConfig.for_preset("avi_gas").adam_beta_1 == 0.5
    assert TrainConfig.for_preset("avi_gas", learning_rate=3e-3).learning_rate == 3e-3


def _built(cfg):
    model = cfg.build()
    model(model.config.dummy_inputs(frames=4))
    return model


def test_curriculum_warm_start_carries_weights_and_zero_attention_rows():
    base = LatentSequenceConfig(**TINY)
    s2, s4 = _built(base.replace(attention=False, n_states=2)), _built(base.replace(attention=False, n_states=4))
    sa4 = _built(base.replace(attention=True, n_states=4))
    copy_matching_weights(s2, s4)
    for a, b in zip(s2.get_weights(), s4.get_weights()):
        np.testing.assert_array_equal(a, b)
    copy_matching_weights(s4, sa4)
    plain, attentive = s4.lstm.cell.kernel.numpy(), sa4.lstm.cell.kernel.numpy()
    np.testing.assert_array_equal(attentive[: len(plain)], plain)
    assert attentive.shape[0] == plain.shape[0] + 2 * base.lstm_units
    assert not attentive[len(plain):].any()  # the context rows start at zero ...
    x = {features.FACE: np.random.default_rng(0).uniform(-1, 1, (2, 6, 16, 16, 3)).astype("float32")}
    np.testing.assert_allclose(ops.convert_to_numpy(sa4(x)[features.TARGETS]),  # ... same function
                               ops.convert_to_numpy(s4(x)[features.TARGETS]), atol=1e-5)


def test_latent_cache_round_trip_in_windows(tmp_path):
    model = _built(LatentSequenceConfig(**TINY))
    rng = np.random.default_rng(0)
    x = {features.FACE: rng.uniform(-1, 1, (3, 10, 16, 16, 3)).astype("float32")}
    y = {features.TARGETS: rng.uniform(-1, 1, (3, 10, 2)).astype("float32"),
         features.LABEL_MASK: (rng.uniform(size=(3, 10, 2)) > 0.3).astype("float32")}
    path = tmp_path / "train.tfrecord"
    assert latents.cache_latents(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(2), path) == 3
    zq = ops.convert_to_numpy(model.latents(x)[features.FACE])
    read = list(latents.latent_dataset(path, (features.FACE,), batch_size=100, window=4))
    (lx, ly), = read
    # every 10-frame sequence gives two 4-frame windows (the last 2 frames dropped), in order
    np.testing.assert_array_equal(ly[features.TARGETS].numpy(), y[features.TARGETS][:, :8].reshape(6, 4, 2))
    np.testing.assert_array_equal(ly[features.LABEL_MASK].numpy(), y[features.LABEL_MASK][:, :8].reshape(6, 4, 2))
    np.testing.assert_allclose(lx["zq_face"].numpy(), zq[:, :8].reshape(6, 4, *zq.shape[2:]), atol=2e-3)  # float16


def test_front_end_quadrant_conditions_zq():
    """ZQ's last plane holds the arg-max of D's four quadrant logits (003 eq. 2-3)."""
    cfg = LatentSequenceConfig(**TINY).frontend_config(features.FACE)
    model = cfg.build()
    model(model.config.dummy_inputs())
    image = np.random.default_rng(2).uniform(-1, 1, (5, 16, 16, 3)).astype("float32")
    parts = model.forward_parts(image)
    assert parts["d_quadrant"].shape == (5, 4)
    planes = ops.convert_to_numpy(parts["zq"][..., -1])
    np.testing.assert_array_equal(planes, np.argmax(ops.convert_to_numpy(parts["d_quadrant"]), -1)[:, None, None]
                                  * np.ones_like(planes))
    np.testing.assert_array_equal(ops.convert_to_numpy(quadrant(np.array([[.5, .5], [-.5, .5], [-.5, -.5], [.5, -.5]]))),
                                  [0, 1, 2, 3])


def test_mismatched_front_end_is_a_clear_error(tmp_path):
    cfg = LatentSequenceConfig(attention=False, n_states=2, **TINY)
    other = cfg.frontend_config(features.FACE).replace(generator_filters=4)
    with pytest.raises(ValueError, match="front end does not match"):
        _built(cfg).load_frontend(_built(other), features.FACE)
    # a work directory whose first stage trained another front end is refused before any training
    stage_dir = tmp_path / "stages" / "01_frontend_face"
    stage_dir.mkdir(parents=True)
    (stage_dir / "stage.json").write_text(json.dumps({"model": other.to_dict(), "metrics": {}, "history": {}}))
    data = tf.data.Dataset.from_tensor_slices(_task(2, 4)).batch(2)
    with pytest.raises(ValueError, match="01_frontend_face: finished with another model"):
        train_and_evaluate(TrainConfig(model=cfg, epochs=1, tensorboard=False), tmp_path, data)


def _task(n, frames, seed=0):
    rng = np.random.default_rng(seed)
    va = rng.uniform(-1, 1, (n, frames, 2)).astype("float32")
    face = np.clip(rng.normal(0, 0.2, (n, frames, 16, 16, 3)) + va[..., :1, None, None], -1, 1).astype("float32")
    return {features.FACE: face}, {features.TARGETS: va, features.LABEL_MASK: np.ones_like(va)}


def _two_modality_data(n, frames, seed):
    return tf.data.Dataset.from_tensor_slices(two_modality_task(n, frames, seed)).batch(4)


@pytest.mark.slow
def test_avi_gas_recipe_resumes_after_a_killed_stage_and_beats_random_front_ends(tmp_path, monkeypatch):
    """The AVi-GaS recipe (both front ends trained, the latents of both cached, then the fusion +
    sequence curriculum SA-2 -> SA-4) on a known-answer task whose face carries valence and whose
    mel image carries arousal. The run dies in SA-4; the rerun keeps the finished stages (files
    untouched) and trains SA-4 from SA-2's weights. The recipe's model beats the same model
    trained as one stage over its random frozen front ends (what `affect-tf train` did before
    recipes) with the same TrainConfig."""
    cfg = LatentSequenceConfig(modalities=(features.FACE, features.MEL), fusion="gmu", image_size=128,
                               generator_filters=2, residual_blocks=2, latent_block=1,
                               discriminator_filters=(4,) * 6, encoder_filters=(8, 8, 8), features=16,
                               lstm_units=16, n_states=4, attention_from_start=True)
    train_config = TrainConfig(model=cfg, epochs=2, window=8, batch_size=4, learning_rate=3e-3, adam_beta_1=0.5,
                               tensorboard=False, early_stopping_patience=0)
    assert [s.name for s in recipes.recipe_for(train_config)] == [
        "frontend_face", "frontend_mel", "latents", "sa_2", "sa_4"]
    train, val = _two_modality_data(24, 8, 0), _two_modality_data(12, 8, 1)
    real_fit = recipes.fit_stage
    started = {}

    def fit_stage(train_config, model_config, workdir, *args, **kwargs):
        if workdir.name == "05_sa_4" and "killed" not in started:
            started["killed"] = True
            raise KeyboardInterrupt("killed")
        init = args[-1]

        def recording_init(model):
            init(model)
            started[workdir.name] = [w.copy() for w in model.get_weights()]
        return real_fit(train_config, model_config, workdir, *args[:-1], recording_init, **kwargs)

    monkeypatch.setattr(recipes, "fit_stage", fit_stage)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(train_config, tmp_path, train, val)
    stages = tmp_path / "stages"
    done = {p: p.stat().st_mtime_ns for p in stages.glob("*/*") if p.is_file()}
    assert not (stages / "05_sa_4" / "stage.json").exists() and not (tmp_path / "model.keras").exists()
    started.clear()
    started["killed"] = True
    result = train_and_evaluate(train_config, tmp_path, train, val)
    assert list(started) == ["killed", "05_sa_4"]  # only the killed stage ran again
    for path in stages.glob("0[1-4]_*/*"):
        if path.is_file():
            assert path.stat().st_mtime_ns == done[path], path
    sa2 = recipes._stage_model(recipes.recipe_for(train_config)[3], stages / "04_sa_2")
    for a, b in zip(sa2.get_weights(), started["05_sa_4"]):  # SA-4 starts where SA-2 ended
        np.testing.assert_array_equal(a, b)
    assert set(result.stages) == {"01_frontend_face", "02_frontend_mel", "03_latents", "04_sa_2", "05_sa_4"}
    assert result.stages["03_latents"] == {"sequences": {"train": 24, "val": 12}}
    assert (tmp_path / "model.keras").exists()

    monkeypatch.setattr(recipes, "fit_stage", real_fit)
    random_front = real_fit(train_config, cfg, tmp_path / "random", fitting.make_data(train, train_config, cfg, True),
                            fitting.make_data(val, train_config, cfg, False))
    scores = {"recipe": result.metrics, "random front ends": random_front.metrics}
    print({k: {m: round(v, 3) for m, v in s.items() if "ccc" in m} for k, s in scores.items()})
    recipe, random = (scores[k]["val_mean_ccc"] for k in ("recipe", "random front ends"))
    assert recipe > 0.7 and recipe > random + 0.2, scores
    # each modality's answer got through: valence from the face, arousal from the mel image
    assert min(scores["recipe"]["val_valence_ccc"], scores["recipe"]["val_arousal_ccc"]) > 0.5, scores


def test_small_keeps_structure_and_recipe(capsys):
    from affect_tf import cli

    full = TrainConfig.for_preset("avi_gas")
    small = full.replace(model=presets.small_config(full.model_config()))
    cfg = small.model_config()
    assert (cfg.generator_filters, cfg.discriminator_filters, cfg.lstm_units) == (2, (2, 4, 8, 16, 32, 64), 16)
    assert cfg.input_shapes() == full.model_config().input_shapes()
    assert recipes.describe(small) == recipes.describe(full)
    aeg = presets.small_config(presets.get_preset("aeg_cd_sz").config)  # z still fits D's conv 2
    assert aeg.discriminator_filters[aeg.latent_after - 1] == 4 * aeg.generator_filters
    from affect_tf.pipelines.main_job import default_train_config  # affect-tf run --preset avi_gas --small

    run = default_train_config("avi_gas", small=True, epochs=3)  # the main job's CPU schedule
    assert (run.model_config(), run.adam_beta_1, run.epochs, run.learning_rate, run.window) == (cfg, 0.5, 3, 3e-3, 16)
    assert default_train_config("avi_gas", epochs=3) == full.replace(epochs=3)  # full size: the paper's settings
    assert cli.main(["train", "--preset", "anclaf_sa_4", "--small", "--recipe"]) == 0
    assert capsys.readouterr().out.split("\n")[:3] == [
        "01_frontend_face: train on records (80 frames) -> G and D of face",
        "02_latents: cache on records (80 frames) from frontend_face -> ZQ latents of the training and validation sequences",
        "03_s_2: train on latents (2 frames) from frontend_face -> weights of every layer"]


@pytest.mark.slow
def test_mel_recipe_keeps_the_front_end_statistics(tmp_path):
    """Au-DeS-like: the mel statistics fitted in the front-end stage are the ones the latents were
    cached with and the ones the final model carries (the latent stages do not refit them)."""
    cfg = LatentSequenceConfig(modalities=(features.MEL,), attention_from_start=True, n_states=2,
                               image_size=128, generator_filters=2, residual_blocks=1, latent_block=1,
                               discriminator_filters=(2,) * 6, encoder_filters=(2,), features=4, lstm_units=4)
    rng = np.random.default_rng(0)
    mel = (-40 + 15 * rng.normal(size=(2, 4, 128, 128)) + np.linspace(-20, 20, 128)[:, None]).astype("float32")
    va = rng.uniform(-1, 1, (2, 4, 2)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(({features.MEL: mel}, {features.TARGETS: va,
                                                                      features.LABEL_MASK: np.ones_like(va)})).batch(2)
    train_config = TrainConfig(model=cfg, epochs=1, window=4, tensorboard=False, early_stopping_patience=0)
    assert [s.name for s in recipes.recipe_for(train_config)] == ["frontend_mel", "latents", "sa_2"]
    result = train_and_evaluate(train_config, tmp_path, data)

    def statistics(model):
        (layer,) = [lay for lay in model._flatten_layers() if "standardization" in type(lay).__name__.lower()]
        return [ops.convert_to_numpy(v) for v in layer.statistics[features.MEL]]

    frontend = recipes._stage_model(recipes.recipe_for(train_config)[0], tmp_path / "stages" / "01_frontend_mel")
    fitted = statistics(frontend)
    np.testing.assert_allclose(fitted[0].ravel(), mel.mean(axis=(0, 1, 3)), rtol=1e-4, atol=1e-3)  # per band
    for ours, theirs in zip(statistics(result.model), fitted):
        np.testing.assert_array_equal(ours, theirs)


def test_train_config_of_an_older_version_loads(tmp_path):
    """train_config.json files written before the recipes carry ``trainer_options`` (which no
    trainer read): they load, with a warning naming the field, into the same config."""
    from affect_tf.config import config_from_json

    cfg = TrainConfig.for_preset("avi_gas", epochs=3)
    old = {**json.loads(cfg.to_json()), "trainer_options": {"lambda_d": 0.25}}
    with pytest.warns(FutureWarning, match="TrainConfig.trainer_options is no longer read"):
        assert config_from_json(json.dumps(old)) == cfg
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['trainer_option'\]"):  # other keys still refused
        config_from_json(json.dumps({**json.loads(cfg.to_json()), "trainer_option": {}}))
