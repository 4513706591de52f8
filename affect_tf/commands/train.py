"""``affect-tf train --preset NAME --records DIR --out DIR``: the preset's recipe, its option search
included (:func:`affect_tf.training.option_search.train`)."""
from __future__ import annotations

import argparse
import json
import os
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", help="model preset (`affect-tf presets --names-only`)")
    parser.add_argument("--records", help="records directory holding train*/ and val* splits")
    parser.add_argument("--train", help="training record file pattern (instead of --records)")
    parser.add_argument("--val", help="validation record file pattern (instead of --records)")
    parser.add_argument("--out", help="work directory (stages, checkpoints, logs, model); required to train")
    parser.add_argument("--config", help="TrainConfig JSON file; flags below override it")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--window", type=int, help="frames per training sequence")
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--patience", type=int, help="early-stopping patience (0 = off)")
    parser.add_argument("--strategy", choices=("default", "mirrored", "one_device",
                                               "multi_worker_mirrored"))
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--warm-start", help=".weights.h5 or .keras to start from")
    parser.add_argument("--backbone-weights", metavar="FILE",
                        help="face CNN weights (.npz of affect-tf pretrain or tools/convert_vgg_face.py)")
    parser.add_argument("--freeze-backbone", action="store_true",
                        help="with --backbone-weights: keep the face CNN as loaded, train the layers above it")
    parser.add_argument("--refit-standardization", action="store_true",
                        help="with --warm-start: fit the feature statistics on --train again instead "
                             "of keeping the warm-start model's")
    parser.add_argument("--fusion-members", nargs="+", metavar="MODEL",
                        help="model-level fusion presets: the trained members' models (.keras files or "
                             "`affect-tf train` work directories), in the preset's member order")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--small", action="store_true",
                        help="CPU-sized copy of the preset: widths divided by 8, same structure and recipe")
    parser.add_argument("--recipe", action="store_true", help="print the training stages and exit")
    parser.add_argument("--search", metavar="FIELD=V1,V2,...",
                        help="train once per value of a model-config field and keep the best on "
                             "validation, e.g. --search alpha=0,0.25,0.5,1 (implicit fusion presets "
                             "search alpha over 0.0-1.0 by 0.1 unless --alpha pins it)")
    parser.add_argument("--alpha", type=float,
                        help="implicit fusion: train this auxiliary-loss weight only, no search")
    parser.set_defaults(func=run)


def run(args) -> int:
    from affect_tf.config import read_config_file
    from affect_tf.data.reader import split_pattern
    from affect_tf.presets import load_config, small_config
    from affect_tf.training import TrainConfig, option_search, recipes
    from affect_tf.training.option_search import pin_option

    if args.config:
        cfg = read_config_file(args.config, default_type=TrainConfig, load=load_config)
    else:  # the preset's training settings from its paper; the flags below override them
        cfg = TrainConfig.for_preset(args.preset or TrainConfig.preset)
    flags = {
        "preset": args.preset, "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch,
        "batch_size": args.batch_size, "window": args.window,
        "learning_rate": args.learning_rate, "early_stopping_patience": args.patience,
        "strategy": args.strategy, "warm_start": args.warm_start, "seed": args.seed,
        "backbone_weights": args.backbone_weights,
        "freeze_backbone": True if args.freeze_backbone else None,
        "mixed_precision": True if args.mixed_precision else None,
        "refit_standardization": True if args.refit_standardization else None,
        "fusion_members": tuple(args.fusion_members) if args.fusion_members else None,
    }
    cfg = cfg.replace(**{k: v for k, v in flags.items() if v is not None})
    if args.small:
        cfg = cfg.replace(model=small_config(cfg.model_config()))
    if args.recipe:
        print(recipes.describe(cfg))
        return 0
    if not args.out:
        raise SystemExit("affect-tf train: --out DIR is required")
    if cfg.strategy == "multi_worker_mirrored":  # its collectives are set up before TF runs an op
        from affect_tf.training.distribute import make_strategy

        make_strategy(cfg.strategy)
    train, val = args.train, args.val
    if args.records:
        if not os.path.isdir(args.records):
            raise SystemExit(f"affect-tf train: --records {args.records}: not a directory")
        train = train or split_pattern(args.records, "train")
        val = val or split_pattern(args.records, "val")
    if not train:
        raise SystemExit("affect-tf train: no training records (give --records DIR with a "
                         "train split, or --train PATTERN)")
    # Keras' own progress: a bar with ETA on a terminal, one line per epoch into a pipe or log
    verbose = 1 if sys.stdout.isatty() else 2
    if args.alpha is not None:
        cfg = pin_option(cfg, "alpha", args.alpha)
    if args.search:
        name, _, values = args.search.partition("=")
        if not values or not val:
            raise SystemExit("affect-tf train: --search needs FIELD=V1,V2,... and validation records")
        cfg = cfg.replace(search_option=name, search_values=tuple(_number(v) for v in values.split(",")))
    report = {}
    result, scores = option_search.train(cfg, args.out, train, val, verbose=verbose)
    if scores:
        report["search"] = {cfg.search_option: scores}
    if val:  # 004 §6.3: the median window that helps on validation, shipped by `affect-tf export`
        report.update(choose_postprocessing(result, val))
    print(json.dumps({"model": result.keras_path, "checkpoint": result.checkpoint_path,
                      "metrics": result.metrics, **report}, indent=2))
    return 0


def choose_postprocessing(result, val) -> dict:
    """The median window chosen on the validation records, written as ``postprocess.json`` beside
    the trained ``model.keras``."""
    import pathlib

    from affect_tf.evaluation_io import POSTPROCESS_FILE, median_window_of_model, write_json
    from affect_tf.models import load_model

    chosen = {"median_window": list(median_window_of_model(load_model(result.keras_path), [val]))}
    write_json(chosen, str(pathlib.Path(result.keras_path).parent / POSTPROCESS_FILE))
    return chosen


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)
