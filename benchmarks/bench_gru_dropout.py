"""004 §6.1's GRU "dropout 0.8" under both readings on the synthetic drop (issue 24).

    .venv310/bin/python -m benchmarks.bench_gru_dropout RECORDS [--seeds 0,1] [--rates 0.2,0.8]
        [--workdir DIR]

``RECORDS``: a preprocessed synthetic drop (``Split-train/*``, ``Split-validation/*`` as the TFX
ExampleGen writes them, e.g. ``affect-tf run``'s ``tfx/DropExampleGen_0/examples/1``). The
validation split's subjects are divided: the first picks the best epoch, the others are held
out. Model: the main job's shrunk CNN-3RNN (``affect_tf.pipelines.cli.MAIN_JOB_SHRINK``, ``affect_tf.pipelines.main_job``) with its two GRU
layers per tap, so that the dropout between them acts; its CPU schedule. Prints one row per
reading and seed: held-out valence/arousal/mean CCC over every labelled frame.
"""
from __future__ import annotations

import argparse
import glob
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

READINGS = {0.2: "keep probability 0.8 (rate 0.2)", 0.8: "drop rate 0.8"}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("records")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--rates", default="0.2,0.8", help="GRU drop rates to run (0.2: keep 0.8; 0.8: rate 0.8)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)

    from affect_tf.commands.fuse import validation_ccc
    from affect_tf.models import load_model
    from affect_tf.pipelines.main_job import default_train_config

    train = os.path.join(args.records, "Split-train", "*")
    subjects = sorted({pathlib.Path(f).name.split("_v")[0] for f in glob.glob(os.path.join(args.records, "Split-validation", "*"))})
    val = os.path.join(args.records, "Split-validation", f"{subjects[0]}_*")
    held_out = [os.path.join(args.records, "Split-validation", f"{s}_*") for s in subjects[1:]]
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="bench-gru-dropout-"))
    print(f"train {train}; best epoch on {subjects[0]}; held out {', '.join(subjects[1:])}")
    print("| reading | seed | valence CCC | arousal CCC | mean CCC | train s |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    import numpy as np

    from affect_tf.training import train_and_evaluate

    for rate in (float(r) for r in args.rates.split(",")):
        label = READINGS.get(rate, f"drop rate {rate}")
        for seed in (int(s) for s in args.seeds.split(",")):
            cfg = default_train_config(seed=seed)
            cfg = cfg.replace(model=cfg.model.replace(rnn_layers=2, rnn_dropout=rate))
            started = time.perf_counter()
            run = train_and_evaluate(cfg, workdir / f"rate{rate}_seed{seed}", train, val)
            seconds = time.perf_counter() - started
            model = load_model(run.keras_path)
            cccs = np.mean([validation_ccc(model, pattern, cfg.window) for pattern in held_out], axis=0) \
                if len(held_out) > 1 else validation_ccc(model, held_out[0], cfg.window)
            print(f"| {label} | {seed} | {cccs[0]:.3f} | {cccs[1]:.3f} | {np.mean(cccs):.3f} | {seconds:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
