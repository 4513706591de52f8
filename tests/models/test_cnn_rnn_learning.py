"""Learning is shown, not assumed: a shrunk CNN-3RNN (2nd pool, last pool, fc) trained with
train_and_evaluate reaches CCC >= 0.7 on held-out subjects of a task whose answer is in the faces."""
import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features
from affect_tf.models.cnn_rnn import CnnRnnConfig
from affect_tf.training import TrainConfig, train_and_evaluate

SIZE = 32


def _subject_task(subjects, sequences=4, frames=8, seed=0):
    """Per subject a fixed face texture; valence brightens the red channel, arousal the green."""
    rng = np.random.default_rng(seed)
    faces, labels = [], []
    for subject in subjects:
        texture = np.random.default_rng(1000 + subject).uniform(-0.5, 0.5, (SIZE, SIZE, 3))
        for _ in range(sequences):
            va = np.clip(np.cumsum(rng.normal(0, 0.35, (frames, 2)), 0) + rng.uniform(-0.5, 0.5, 2), -1, 1)
            img = np.repeat(texture[None], frames, 0) * 0.5
            img[..., 0] += 0.5 * va[:, None, None, 0]
            img[..., 1] += 0.5 * va[:, None, None, 1]
            img += rng.normal(0, 0.05, img.shape)
            faces.append(np.clip(img, -1, 1))
            labels.append(va)
    n = len(faces)
    feats = {features.FACE: np.array(faces, "float32"),
             features.LANDMARKS: rng.uniform(-1, 1, (n, frames, 68, 2)).astype("float32")}
    return tf.data.Dataset.from_tensor_slices(
        (feats, {features.TARGETS: np.array(labels, "float32")})).shuffle(n, seed=seed).batch(4)


@pytest.mark.slow
def test_cnn_3rnn_learns_on_held_out_subjects(tmp_path):
    model = CnnRnnConfig(crop_size=SIZE, vgg_filters=(8, 8, 16, 16, 16), fc_units=32,
                         fc_dropout=0.1, rnn_units=16, rnn_dropout=0.1)
    cfg = TrainConfig(model=model, epochs=12, learning_rate=3e-3, early_stopping_patience=4,
                      tensorboard=False, seed=0)
    result = train_and_evaluate(cfg, tmp_path, _subject_task(range(6), seed=0),
                                _subject_task(range(6, 8), seed=1))
    print(result.metrics)
    assert result.metrics["val_mean_ccc"] >= 0.7, result.history["val_mean_ccc"]
    assert result.metrics["val_valence_ccc"] >= 0.6 and result.metrics["val_arousal_ccc"] >= 0.6
