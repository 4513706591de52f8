"""Parameter counts and per-frame inference time of Vi-De, Vi-DeS, AVi-CaS and AVi-GaS next to
``001`` Table 11 (batch 1, one CPU core).

    taskset -c 0 .venv310/bin/python -m benchmarks.bench_adversarial [--repeats 20]

Counts, ours:
* training  = every weight trained in either stage: G, D (with its real/fake head), P / P^T;
* inference = the exported model: G, D without the real/fake head (D's V/A gives Q, eq. 3), P;
* "paper accounting" = inference without D: Table 11's training-minus-inference gap
  (2,803,962 for every variant) equals one D of this layout (2,803,955), so the paper's
  inference column leaves D out although eq. 3 needs D for Q, and its AVi rows count one G/D set
  although the model has one per modality (``001`` §3.1: G = {G^I, G^S}, D = {D^I, D^S}).

Time: ms/frame next to the paper's (a GTX 1080 Ti), the model's GFLOP per frame, the share of this
core's matmul throughput it reaches (the reference, measured in the same run) and the floor that
throughput sets (GFLOP / matmul GFLOP/s): a one-core time below the floor is out of reach.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

from affect_tf import presets  # noqa: E402

PAPER = {  # 001 Table 11: training params, inference params, inference ms (GTX 1080 Ti)
    "vi_de": (5_287_308, 2_483_346, 4.63),
    "vi_des": (5_550_989, 2_747_027, 4.81),
    "avi_cas": (6_000_508, 3_196_546, 5.17),
    "avi_gas": (6_264_189, 3_460_227, 5.21),
}
CRITIC_HEAD = 512 * 9 + 1


def counts(name):
    preset = presets.get_preset(name)
    model = preset.build()
    model(model.config.dummy_inputs())
    inference = model.inference_model()
    modalities = getattr(preset.config, "modalities", (getattr(preset.config, "modality", None),))
    training = model.count_params() + (0 if inference is not model else CRITIC_HEAD * len(modalities))
    discriminators = sum(layer.count_params() for layer in inference._flatten_layers(include_self=False, recursive=False)
                         if layer.name.endswith("_discriminator"))
    return inference, training, inference.count_params(), inference.count_params() - discriminators


def time_per_frame(model, frames, repeats):
    x = {k: tf.constant(v) for k, v in model.config.dummy_inputs(1, frames).items()}
    run = tf.function(lambda inputs: model(inputs, training=False)["valence_arousal"])
    run(x).numpy()  # trace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x).numpy()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times)) / frames


def gflop_per_frame(model, frames):
    """Floating-point operations of one inference call (TF's graph profiler), per frame."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    x = model.config.dummy_inputs(1, frames)
    spec = {k: tf.TensorSpec(v.shape, tf.float32) for k, v in x.items()}
    graph = convert_variables_to_constants_v2(
        tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(spec)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(),
                                            cmd="op", options=options)
    return profile.total_float_ops / 1e9 / frames


def matmul_gflops(n=1024, repeats=10):
    """The reference measured in the same run: this core's float32 matmul throughput."""
    a = tf.random.normal((n, n))
    run = tf.function(lambda m: tf.matmul(m, m))
    run(a).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        run(a).numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--frames", type=int, default=8, help="sequence length for the sequence models")
    args = parser.parse_args()
    reference = matmul_gflops()
    print(f"CPU cores visible: {len(os.sched_getaffinity(0))}; TF threads: 1; "
          f"reference float32 matmul: {reference:.1f} GFLOP/s")
    header = f"{'model':8} {'train':>10} {'paper':>10} {'Δ%':>6} | {'infer':>10} {'paper':>10} {'Δ%':>6} | " \
             f"{'infer w/o D':>11} {'Δ%':>6} | {'ms/frame':>8} {'paper ms':>8} | {'GFLOP/fr':>8} " \
             f"{'% of matmul':>11} {'floor ms':>8}"
    print(header)
    for name, (p_train, p_infer, p_ms) in PAPER.items():
        inference, training, infer, no_d = counts(name)
        frames = 1 if name == "vi_de" else args.frames
        ms = time_per_frame(inference, frames, args.repeats)
        gflop = gflop_per_frame(inference, frames)
        pct = lambda ours, paper: 100.0 * (ours - paper) / paper  # noqa: E731
        print(f"{name:8} {training:>10,} {p_train:>10,} {pct(training, p_train):>+6.1f} | {infer:>10,} "
              f"{p_infer:>10,} {pct(infer, p_infer):>+6.1f} | {no_d:>11,} {pct(no_d, p_infer):>+6.1f} | "
              f"{ms:>8.2f} {p_ms:>8.2f} | {gflop:>8.2f} {100 * gflop / ms * 1e3 / reference:>10.0f}% "
              f"{gflop / reference * 1e3:>8.1f}")


if __name__ == "__main__":
    main()
