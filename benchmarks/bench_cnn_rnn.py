"""CNN-3RNN training-step time at the paper's shape (004 §6.1: batch 4 x 80 frames x 96x96) and
parameter counts per preset (independent of the machine).

Reported as ratios against references measured in the same run: the forward pass alone, and a
plain VGG16 conv stack training step on the same 4 x 80 images. Not run by pytest.

    python -m benchmarks.bench_cnn_rnn [--batch 4 --frames 80 --steps 3] [--no-params]
"""
from __future__ import annotations

import argparse
import time

import keras
import numpy as np


def _time(fn, steps):
    fn()  # trace / warm up
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--no-params", action="store_true")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from affect_tf import features, losses, presets
    from affect_tf.models.cnn_rnn import backbones

    cfg = presets.get_preset("cnn_3rnn_2ndpool_lastpool_fc").config
    model = cfg.build()
    rng = np.random.default_rng(0)
    x = {k: tf.constant(rng.uniform(-1, 1, (args.batch, args.frames, *s[1:])).astype("float32"))
         for k, s in cfg.input_shapes().items()}
    y = tf.constant(rng.uniform(-1, 1, (args.batch, args.frames, 2)).astype("float32"))
    optimizer = keras.optimizers.Adam(1e-4)
    model(x)

    @tf.function
    def forward():
        return model(x, training=False)[features.TARGETS]

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = losses.ccc_loss(y, model(x, training=True)[features.TARGETS])
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    vgg = backbones.vgg_face_backbone(cfg.crop_size, ["pool5"])
    images = tf.reshape(x[features.FACE], (-1, cfg.crop_size, cfg.crop_size, 3))
    vgg_opt = keras.optimizers.Adam(1e-4)
    vgg(images[:1])

    @tf.function
    def vgg_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(vgg(images)["pool5"] ** 2)
        grads = tape.gradient(loss, vgg.trainable_variables)
        vgg_opt.apply_gradients(zip(grads, vgg.trainable_variables))
        return loss

    t_forward = _time(lambda: forward().numpy(), args.steps)
    t_vgg = _time(lambda: vgg_step().numpy(), args.steps)
    t_train = _time(lambda: train_step().numpy(), args.steps)
    print(f"shape: batch {args.batch} x {args.frames} frames x {cfg.crop_size}x{cfg.crop_size} (CPU)")
    print(f"CNN-3RNN train step   {t_train:8.2f} s")
    print(f"CNN-3RNN forward      {t_forward:8.2f} s   train/forward = {t_train / t_forward:.2f}")
    print(f"VGG16 conv train step {t_vgg:8.2f} s   train/VGG16 step = {t_train / t_vgg:.2f}")

    if not args.no_params:
        print("\npreset\ttraining params\tinference params")
        for preset in presets.list_presets():
            try:
                train, infer = presets.parameter_counts(preset)
            except Exception as error:  # noqa: BLE001 - a table row per preset, whatever happens
                print(f"{preset.name}\terror: {error}")
                continue
            print(f"{preset.name}\t{train:,}\t{infer:,}", flush=True)


if __name__ == "__main__":
    main()
