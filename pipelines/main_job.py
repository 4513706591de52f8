"""The main job's defaults: which model ``affect-tf run`` trains and on what schedule."""
from __future__ import annotations

from affect_tf import presets
from affect_tf.training.config import TrainConfig

# The main job trains the paper's CNN-3RNN (2nd pool + last pool + fc taps, ``004`` §5.3.1) with
# its layers shrunk so that it learns the synthetic drop in a few CPU minutes (held-out mean CCC
# about 0.8); ``--preset NAME`` trains a full-size preset instead (``--small``: its widths shrunk
# the same way, :func:`affect_tf.presets.small_config`, with the same stages, on this schedule).
MAIN_JOB_PRESET = "cnn_3rnn_2ndpool_lastpool_fc"
MAIN_JOB_SHRINK = {"vgg_filters": (8, 16, 16, 32, 32), "fc_units": 64, "rnn_units": 32, "rnn_layers": 1,
                   "fc_dropout": 0.2, "rnn_dropout": 0.2}
MAIN_JOB_TRAINING = {"epochs": 12, "batch_size": 4, "window": 16, "learning_rate": 3e-3,
                     "early_stopping_patience": 0}


def default_train_config(preset: str | None = None, small: bool = False, **overrides):
    """The main job's training configuration: the shrunk default preset; or ``preset`` full size
    with its paper's training settings; or (``small``) CPU-sized with the main job's CPU schedule
    (``MAIN_JOB_TRAINING``) over the preset's other settings (optimizer, Adam beta_1)."""
    fields = {**MAIN_JOB_TRAINING, **overrides}
    if preset and preset != MAIN_JOB_PRESET:
        if not small:
            return TrainConfig.for_preset(preset, **overrides)
        config = TrainConfig.for_preset(preset, **fields)
        return config.replace(model=presets.small_config(config.model_config()))
    model = presets.get_preset(MAIN_JOB_PRESET).config.replace(**MAIN_JOB_SHRINK)
    return TrainConfig(preset=MAIN_JOB_PRESET, model=model, **fields)
