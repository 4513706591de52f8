"""``affect-tf run``: the main job. Runs the whole local TFX pipeline (embedded default: the
synthetic drop, generated on demand under the work directory) and says where the pushed model
and the evaluation report are, the model's CCC, and how to query it.

Running it again with the same ``--work-dir`` is the retraining loop: unchanged steps come from
the cache, training warm-starts from the blessed model, and a push happens only when the new
model beats it on the held-out subjects (``--new-subjects N`` adds a drop of N new subjects).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import warnings

from pipelines import configs

# The main job trains the paper's CNN-3RNN (2nd pool + last pool + fc taps, ``004`` §5.3.1) with
# its layers shrunk so that it learns the synthetic drop in a few CPU minutes (held-out mean CCC
# about 0.8); ``--preset NAME`` trains a full-size preset instead (``--small``: its widths shrunk
# the same way, :func:`affect_tf.presets.small_config`, with the same stages, on this schedule).
MAIN_JOB_PRESET = "cnn_3rnn_2ndpool_lastpool_fc"
MAIN_JOB_SHRINK = {"vgg_filters": (8, 16, 16, 32, 32), "fc_units": 64, "rnn_units": 32, "rnn_layers": 1,
                   "fc_dropout": 0.2, "rnn_dropout": 0.2}
MAIN_JOB_TRAINING = {"epochs": 12, "batch_size": 4, "window": 16, "learning_rate": 3e-3,
                     "early_stopping_patience": 0, "tensorboard": False}


def default_train_config(preset: str | None = None, small: bool = False, **overrides):
    """The main job's training configuration: the shrunk default preset; or ``preset`` full size
    with its paper's training settings; or (``small``) CPU-sized with the main job's CPU schedule
    (``MAIN_JOB_TRAINING``) over the preset's other settings (optimizer, Adam beta_1)."""
    from affect_tf import presets
    from affect_tf.training.config import TrainConfig

    fields = {**MAIN_JOB_TRAINING, **overrides}
    if preset and preset != MAIN_JOB_PRESET:
        if not small:
            return TrainConfig.for_preset(preset, **overrides)
        config = TrainConfig.for_preset(preset, **fields)
        return config.replace(model=presets.small_config(config.model_config()))
    model = presets.get_preset(MAIN_JOB_PRESET).config.replace(**MAIN_JOB_SHRINK)
    return TrainConfig(preset=MAIN_JOB_PRESET, model=model, **fields)


class ComponentProgress(logging.Handler):
    """A tqdm bar over the pipeline's components on stderr: one step per finished component,
    named after it (from TFX's 'Component X is running/finished.' log lines, absl INFO); the
    libraries' warnings still come through as lines above the bar."""

    _EVENT = re.compile(r"Component (\S+) is (running|finished)\.")

    def __init__(self):
        super().__init__(logging.INFO)
        self.bar = None

    def start(self, component_ids):
        from tqdm import tqdm

        # mininterval 0: every component is drawn, however fast it finishes (a handful of steps)
        self.bar = tqdm(total=len(component_ids), desc="run", unit="component", file=sys.stderr,
                        dynamic_ncols=True, mininterval=0)

    def emit(self, record):
        message = record.getMessage()
        event = self._EVENT.match(message)
        if event and self.bar is not None:
            name, state = event.groups()
            if state == "running":
                self.bar.set_postfix_str(name)
            else:
                self.bar.set_postfix_str(f"{name} finished", refresh=False)
                self.bar.update()
        elif record.levelno >= logging.WARNING and "property_predicate is not supported" not in message:
            (self.bar.write if self.bar is not None else print)(f"{record.levelname}: {message}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        super().close()


def _show_progress() -> ComponentProgress:
    """TFX's component lines into the progress bar instead of its full INFO log."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    handler = ComponentProgress()
    logger = logging.getLogger("absl")
    logger.handlers = [handler]
    logger.propagate = False
    return handler


def latest_outcome(metadata_path: str, pipeline_name: str = configs.PIPELINE_NAME, type_prefix: str = "") -> dict:
    """Read ML Metadata for the newest evaluation, blessing and push of the pipeline
    (``type_prefix``: ``"tfx."`` where Kubeflow names the types by their schema titles)."""
    from ml_metadata import metadata_store
    from tfx.orchestration import metadata

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))

    def newest(type_name):
        found = store.get_artifacts_by_type(type_prefix + type_name)
        return max(found, key=lambda a: a.id) if found else None

    def prop(artifact, name):
        value = artifact.custom_properties.get(name)
        if value is None:
            return None
        return value.WhichOneof("value") and getattr(value, value.WhichOneof("value"))

    out = {}
    evaluation = newest("ModelEvaluation")
    if evaluation is not None:
        report = os.path.join(evaluation.uri, "report.json")
        out["report"] = report
        out["plot"] = os.path.join(evaluation.uri, "predictions.png")
        with open(report) as f:
            out["evaluation"] = json.load(f)
    pushes = [a for a in store.get_artifacts_by_type(type_prefix + "PushedModel") if prop(a, "pushed") == 1]
    latest_push = newest("PushedModel")
    out["pushed_now"] = bool(latest_push is not None and prop(latest_push, "pushed") == 1)
    if pushes:
        last = max(pushes, key=lambda a: a.id)
        out["pushed_version"] = int(prop(last, "pushed_version"))  # a double in Kubeflow's metadata
        out["pushed_path"] = prop(last, "pushed_destination")
    return out


def run(args) -> int:
    from pipelines import drops as drop_tools
    from pipelines.local_runner import run_local
    from pipelines.pipeline import Drop

    work_dir = os.path.abspath(args.work_dir)
    paths = configs.work_paths(work_dir)
    if args.drop:
        drops = []
        for spec in args.drop:
            dataset, sep, root = spec.partition("=")
            if not sep:
                raise SystemExit(f"--drop expects DATASET=ROOT, got {spec!r}")
            drops.append(Drop(dataset, os.path.abspath(root)))
    else:
        print(f"[1/3] synthetic drop (embedded default) -> {paths['drop']}", flush=True)
        drop_tools.ensure_synthetic_drop(paths["drop"], n_subjects=args.subjects)
        drops = [Drop(configs.DATASET, paths["drop"])]
        if args.new_subjects:
            extra = f"{paths['drop']}-plus{args.new_subjects}"
            print(f"      new drop with {args.new_subjects} more subject(s) -> {extra}", flush=True)
            drop_tools.new_subjects_drop(paths["drop"], extra, args.new_subjects, n_subjects=args.subjects)
            drops.append(Drop(configs.DATASET, extra))
    if args.train_config:
        with open(args.train_config) as f:
            train_config = f.read()
    else:
        overrides = {"epochs": args.epochs} if args.epochs else {}
        train_config = default_train_config(args.preset, small=args.small, **overrides)
    evaluation = dict(configs.EVALUATION, margin=args.margin, floor=args.floor)
    if args.runner == "kubeflow-local":
        from pipelines.kubeflow_local import run_main_job

        return run_main_job(args, work_dir, drops, train_config, evaluation)
    print(f"[2/3] TFX pipeline (LocalDagRunner, ML Metadata in {paths['metadata']})", flush=True)
    progress = None if args.quiet else _show_progress()
    try:
        run_local(work_dir, drops, train_config, evaluation_config=evaluation, train_steps=args.steps,
                  warm_start=not args.no_warm_start, preprocess_beam_args=args.beam_arg or (),
                  enable_cache=not args.no_cache, on_start=progress.start if progress else None)
    finally:
        if progress is not None:
            progress.close()
            logging.getLogger("absl").removeHandler(progress)
    print("[3/3] done", flush=True)
    print_summary(paths["metadata"])
    return 0


def print_summary(metadata_path: str, type_prefix: str = "") -> dict:
    """Print the newest evaluation, blessing and served model recorded in ML Metadata."""
    outcome = latest_outcome(metadata_path, type_prefix=type_prefix)
    report = outcome.get("evaluation", {})
    if report:
        frame, utt = report["frame"], report["utterance"]
        print(f"  held-out CCC per frame: valence {frame['valence']['ccc']:.3f}, arousal "
              f"{frame['arousal']['ccc']:.3f}; per utterance: valence {utt['valence']['ccc']:.3f}, "
              f"arousal {utt['arousal']['ccc']:.3f}")
        print(f"  blessing: {'BLESSED' if report['blessing']['blessed'] else 'not blessed'} - "
              f"{report['blessing']['reason']}")
        print(f"  report: {outcome['report']}\n  plot:   {outcome['plot']}")
    if outcome.get("pushed_path"):
        state = "pushed by this run" if outcome["pushed_now"] else "unchanged (still serving)"
        print(f"  serving model: version {outcome['pushed_version']} at {outcome['pushed_path']} ({state})")
        base = os.path.dirname(outcome["pushed_path"])
        print("  query it:\n"
              f"    affect-tf serve {configs.SERVING_MODEL_NAME}={base} --port 8500 &\n"
              f"    affect-tf predict VIDEO.mp4 --server 127.0.0.1:8500 --out predictions/\n"
              f"  or without a server:\n    affect-tf predict VIDEO.mp4 --model {base} --out predictions/")
    else:
        print("  no model has been pushed yet (none was blessed)")
    return outcome


def register_run(parser: argparse.ArgumentParser) -> None:
    """``affect-tf run``: the whole local TFX pipeline (preprocess, train, evaluate, push)."""
    # Quieter start-up: TensorFlow's C++ banners and google-cloud's Python-version notices say
    # nothing about this job (set before TensorFlow/TFX are imported by ``run``).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=FutureWarning)
    parser.description = __doc__.splitlines()[0]
    parser.add_argument("--work-dir", default="affect-tf-work",
                        help="drops, TFX artifacts, ML Metadata (SQLite) and pushed models (default ./affect-tf-work)")
    parser.add_argument("--drop", action="append", metavar="DATASET=ROOT",
                        help="a dataset drop instead of the synthetic one (repeat for several)")
    parser.add_argument("--subjects", type=int, default=6, help="synthetic subjects (default 6)")
    parser.add_argument("--new-subjects", type=int, default=0,
                        help="add a drop of N new synthetic subjects (the retraining walk-through)")
    parser.add_argument("--preset", default=None, help="model preset (default: the main job's small preset)")
    parser.add_argument("--small", action="store_true",
                        help="with --preset: widths divided by 8, same structure and training stages")
    parser.add_argument("--train-config", default=None, help="TrainConfig JSON file (overrides --preset)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="training steps (TFX TrainArgs.num_steps)")
    parser.add_argument("--margin", type=float, default=configs.EVALUATION["margin"],
                        help="CCC the new model must gain over the blessed one")
    parser.add_argument("--floor", type=float, default=configs.EVALUATION["floor"],
                        help="least CCC to be blessed at all")
    parser.add_argument("--no-warm-start", action="store_true")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--beam-arg", action="append", help="option for the preprocessing Beam job")
    parser.add_argument("--runner", choices=("local", "kubeflow-local"), default="local",
                        help="local: LocalDagRunner; kubeflow-local: compile for Kubeflow and execute "
                             "that spec task by task here (docs/pipelines.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar over the components")
    parser.set_defaults(func=run)


if __name__ == "__main__":
    from affect_tf.cli import main

    sys.exit(main(["run", *sys.argv[1:]]))
