"""``affect-tf live`` speed (issue 26): sustained frames/s and capture-to-prediction latency
p50/p99, beside offline ``predict`` on the same clip in the same run, for the CPU-sized CNN-3RNN
(``cnn_3rnn_2ndpool_lastpool_fc --small``: face and landmarks) and AVi-GaS at CPU size
(``avi_gas --small``: face and mel, GMU fusion), with random weights (speed does not depend on
them), each exported with its ``serving_stream`` signature and called in process.

Per model, on one clip:

* ``offline``: ``AffectModel.predict`` (chunks of 80 frames), frames/s;
* ``live_max``: ``run_live`` as fast as it goes (the clip not paced), frames/s;
* ``live_paced``: ``run_live --realtime`` (frames released at the clip's 25 fps, as a camera
  gives them): frames/s over the whole call (opening the source and loading the face models
  included) and sustained (first frame's capture to last row: ``startup_s`` is the rest), and
  latency from a frame's capture (when it is due) to its row, p50/p99 and the three worst
  frames, following the largest face as ``affect-tf live`` does by default; ``live_paced_subject``
  the same following the recording's subject (``--target-face subject``, ``predict``'s default:
  an identity check at every detection frame);
* ``profile``: ms per frame in each stage (cProfile over a live run following the subject, so
  that the identity check shows): demux + decode, conversion
  to RGB, face detection, 68 landmarks, identity check, alignment, mel, eGeMAPS, the model.

    python -m benchmarks.bench_live [--clip ../shared/data/video/WDA_KatieHill_000.mp4] [--out results.json]

Figures depend on the machine and its load: report them with its CPU count and load average.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pathlib
import pstats
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO.parent / "shared" / "data" / "video" / "WDA_KatieHill_000.mp4"
PRESETS = ("cnn_3rnn_2ndpool_lastpool_fc", "avi_gas")
# (file suffix, function name) -> stage; cumulative time of each, per frame
STAGES = {
    ("live_source.py", "_read"): "demux + decode",
    ("decode.py", "upright"): "to RGB",
    ("face.py", "detect"): "face detection",
    ("face.py", "landmarks"): "68 landmarks",
    ("face.py", "_face_descriptor"): "identity check",
    ("face.py", "aligned"): "alignment",
    ("audio.py", "mel"): "mel window",
    ("audio.py", "egemaps"): "eGeMAPS",
    ("live.py", "__call__"): "model (serving_stream)",
}


def export_small(preset_name: str, base: pathlib.Path) -> pathlib.Path:
    """The preset at CPU size, random weights, exported with its streaming signature."""
    from affect_tf import export, presets

    config = presets.small_config(presets.get_preset(preset_name).config)
    model = config.model_class(config=config)
    model(config.dummy_inputs())
    signatures = export.make_serving_signatures(model, sequence_examples=False)
    return export.export_for_serving(model, base, version=1, metadata={"preset": f"{preset_name} --small"},
                                     signatures=signatures)


def live_rows(clip, model, **options):
    from affect_tf.live import run_live

    out = io.StringIO()
    started = time.perf_counter()
    summary = run_live(str(clip), model, out, progress=None, **options)
    seconds = time.perf_counter() - started
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    return rows, summary, seconds


def profile_stages(clip, model, max_frames: int) -> dict:
    profiler = cProfile.Profile()
    profiler.enable()
    rows, _, _ = live_rows(clip, model, max_frames=max_frames)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    per_frame = {}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        stage = STAGES.get((os.path.basename(filename), function))
        if stage and ("affect_tf" in filename):
            per_frame[stage] = per_frame.get(stage, 0.0) + cumulative * 1000 / len(rows)
    return {stage: round(per_frame.get(stage, 0.0), 2) for stage in STAGES.values()}


def bench_model(preset_name, clip, work: pathlib.Path) -> dict:
    from affect_tf.inference import load_model

    export_small(preset_name, work / preset_name)
    model = load_model(work / preset_name, warn=None)
    result = {"inputs": list(model.input_names)}

    started = time.perf_counter()
    frame = model.predict(clip)
    result["offline"] = {"frames": len(frame), "frames_per_s": round(len(frame) / (time.perf_counter() - started), 2)}

    rows, _, seconds = live_rows(clip, model, media_config=model.media_config().replace(target_face="largest"))
    result["live_max"] = {"frames": len(rows), "frames_per_s": round(len(rows) / seconds, 2)}

    for key, policy in (("live_paced", "largest"), ("live_paced_subject", "subject")):
        options = {"media_config": model.media_config().replace(target_face=policy)}
        rows, _, seconds = live_rows(clip, model, realtime=True, **options)
        latency = np.array([r["latency_ms"] for r in rows])
        # when each row went out, from the first frame's capture (paced: frame i is captured at its time_s)
        emitted = np.array([r["time_s"] for r in rows]) + latency / 1000
        worst = np.argsort(latency)[::-1][:3]
        result[key] = {"frames": len(rows), "frames_per_s": round(len(rows) / seconds, 2),
                       "sustained_frames_per_s": round((len(rows) - 1) / (emitted.max() - emitted[0]), 2),
                       "startup_s": round(seconds - emitted.max(), 2),
                       "latency_ms_p50": round(float(np.percentile(latency, 50)), 1),
                       "latency_ms_p99": round(float(np.percentile(latency, 99)), 1),
                       "worst_frames_ms": [[int(i), float(latency[i])] for i in worst]}
        if key == "live_paced":  # predict's chunks of 80 restart the state with 16 frames of context
            result["live_vs_predict_chunked_max_abs_diff"] = float(np.nanmax(np.abs(np.array(
                [np.nan if r["valence"] is None else r["valence"] for r in rows]) - frame["valence"].to_numpy(float))))
    result["profile_ms_per_frame"] = profile_stages(clip, model, max_frames=100)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(DEFAULT_CLIP))
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--out", default=None, help="also write the results JSON here")
    args = parser.parse_args(argv)
    from affect_tf.cli import quiet_libraries

    quiet_libraries()
    import affect_tf  # noqa: F401  (openSMILE before TensorFlow)

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_live_"))
    results = {"clip": args.clip, "cpus": os.cpu_count(), "load_average": list(os.getloadavg()), "models": {}}
    for name in args.presets:
        results["models"][name] = bench_model(name, args.clip, work)
        print(name, json.dumps(results["models"][name]), flush=True)
    results["load_average_after"] = list(os.getloadavg())
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        pathlib.Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
