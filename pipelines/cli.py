"""``affect-tf run``: the main job. Runs the whole local TFX pipeline (embedded default: the
synthetic drop, generated on demand under the work directory) and says where the pushed model
and the evaluation report are, the model's CCC, and how to query it.

Running it again with the same ``--work-dir`` is the retraining loop: unchanged steps come from
the cache, training warm-starts from the blessed model, and a push happens only when the new
model beats it on the held-out subjects (``--new-subjects N`` adds a drop of N new subjects).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from affect_tf.pipelines import configs


def run(args) -> int:
    from affect_tf.pipelines import drops as drop_tools
    from affect_tf.pipelines.local_runner import run_local
    from affect_tf.pipelines.main_job import default_train_config
    from affect_tf.pipelines.outcome import print_summary
    from affect_tf.pipelines.pipeline import Drop
    from affect_tf.pipelines.progress import show_progress

    if args.freeze_backbone and not args.backbone_weights:
        raise SystemExit("--freeze-backbone needs --backbone-weights (a random CNN would stay random)")
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
        if args.fusion_members:  # model-level fusion from trained members (004 §5.4.1)
            overrides["fusion_members"] = tuple(os.path.abspath(p) for p in args.fusion_members)
        train_config = default_train_config(args.preset, small=args.small, **overrides)
        if args.alpha is not None:  # implicit fusion: one alpha instead of the preset's grid
            from affect_tf.training.option_search import pin_option

            train_config = pin_option(train_config, "alpha", args.alpha)
    if args.backbone_weights:  # an absolute path: the Trainer runs in another directory
        from affect_tf.presets import load_config

        config = load_config(train_config) if isinstance(train_config, str) else train_config
        train_config = config.replace(backbone_weights=os.path.abspath(args.backbone_weights),
                                      freeze_backbone=args.freeze_backbone)
    evaluation = dict(configs.EVALUATION, margin=args.margin, floor=args.floor)
    if args.runner == "kubeflow-local":
        from affect_tf.pipelines.kubeflow_local import run_main_job

        return run_main_job(args, work_dir, drops, train_config, evaluation)
    print(f"[2/3] TFX pipeline (LocalDagRunner, ML Metadata in {paths['metadata']})", flush=True)
    progress = None if args.quiet else show_progress()
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


def register_run(parser: argparse.ArgumentParser) -> None:
    """``affect-tf run``: the whole local TFX pipeline (preprocess, train, evaluate, push)."""
    # Quieter start-up: TensorFlow's C++ banners and google-cloud's Python-version notices say
    # nothing about this job (set before TensorFlow/TFX are imported by ``run``).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=FutureWarning)
    parser.description = __doc__.split("\n\n")[0]  # the whole first paragraph
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
    parser.add_argument("--fusion-members", nargs="+", metavar="MODEL",
                        help="with a model-level fusion --preset: the trained members' models")
    parser.add_argument("--alpha", type=float, default=None,
                        help="implicit fusion presets: train this alpha only instead of searching 0.0-1.0")
    parser.add_argument("--train-config", default=None, help="TrainConfig JSON file (overrides --preset)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="training steps (TFX TrainArgs.num_steps)")
    parser.add_argument("--margin", type=float, default=configs.EVALUATION["margin"],
                        help="CCC the new model must gain over the blessed one")
    parser.add_argument("--floor", type=float, default=configs.EVALUATION["floor"],
                        help="least CCC to be blessed at all")
    parser.add_argument("--no-warm-start", action="store_true")
    parser.add_argument("--backbone-weights", metavar="FILE",
                        help="face CNN weights (.npz of affect-tf pretrain or tools/convert_vgg_face.py)")
    parser.add_argument("--freeze-backbone", action="store_true",
                        help="with --backbone-weights: keep the face CNN as loaded, train the layers above it")
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
