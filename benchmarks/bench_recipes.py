"""Wall-clock seconds per training stage of each paper recipe (``--small`` presets, random data of
the presets' input shapes, one epoch of ``--steps`` batches per stage, 2 CPU cores).

    .venv310/bin/python -m benchmarks.bench_recipes [--steps 5] [--presets aeg_cd_sz anclaf_sa_4 vi_des avi_gas]

A stage's seconds include building its model, tracing its train and test steps and loading the
stages it starts from (``stage.json`` records them); caching the latents is one pass over the data.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from affect_tf import features, presets  # noqa: E402
from affect_tf.training import TrainConfig, train_and_evaluate  # noqa: E402


def random_data(model_config, n, frames, seed=0):
    rng = np.random.default_rng(seed)
    x = {k: rng.uniform(-1, 1, (n, *[frames if d is None else d for d in shape])).astype("float32")
         for k, shape in model_config.input_shapes().items()}
    va = rng.uniform(-1, 1, (n, frames, 2)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, {features.TARGETS: va, features.LABEL_MASK: np.ones_like(va)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["aeg_cd_sz", "anclaf_sa_4", "vi_des", "avi_gas"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--window", type=int, default=8)
    args = parser.parse_args()
    print(f"CPU cores visible: {len(os.sched_getaffinity(0))}; {args.steps} steps per stage, "
          f"batches of 2 x {args.window} frames")
    for name in args.presets:
        full = TrainConfig.for_preset(name)
        config = full.replace(model=presets.small_config(full.model_config()), epochs=1,
                              batch_size=2, window=args.window,
                              early_stopping_patience=0, tensorboard=False)
        data = random_data(config.model_config(), 2 * args.steps, args.window)
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            train_and_evaluate(config, workdir, data.batch(2), data.batch(2))
            total = time.perf_counter() - start
            stages = sorted(p for p in os.listdir(os.path.join(workdir, "stages"))) \
                if os.path.isdir(os.path.join(workdir, "stages")) else []
            seconds = {s: json.load(open(os.path.join(workdir, "stages", s, "stage.json")))["seconds"] for s in stages}
        per_stage = "  ".join(f"{s} {t:.1f}s" for s, t in seconds.items()) or "one stage"
        print(f"{name:12} total {total:6.1f}s  {per_stage}")


if __name__ == "__main__":
    main()
