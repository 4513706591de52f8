"""``affect-tf pretrain --preset NAME --records DIR --out DIR``:
:func:`affect_tf.training.pretrain.pretrain_backbone`."""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys


def register(parser: argparse.ArgumentParser) -> None:
    """``affect-tf pretrain``: train a preset's face CNN on face-image records and write its backbone
    weights (for ``affect-tf train --backbone-weights``)."""
    from affect_tf.training.pretrain import PretrainConfig

    defaults = PretrainConfig()
    parser.add_argument("--preset", required=True, help="a preset with a face CNN (e.g. vgg_face_cnn, affwildnet)")
    parser.add_argument("--records", required=True,
                        help="records of a face-image drop (affect-tf preprocess --dataset image_folder|affectnet): "
                             "DIR/train/ and, optionally, DIR/validation/")
    parser.add_argument("--out", required=True, help="output folder: the backbone .npz and pretrain.json")
    parser.add_argument("--small", action="store_true", help="the CPU-sized copy of the preset (as train --small)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="images per batch")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-augment", action="store_true", help="no random mirror/shift of training images")
    parser.set_defaults(func=run)


def _split(records: str, names) -> str | None:
    for name in names:
        for pattern in (os.path.join(records, name, "*"), os.path.join(records, f"{name}*")):
            if glob.glob(pattern):
                return pattern
    return None


def run(args) -> int:
    from affect_tf import presets
    from affect_tf.training.pretrain import PretrainConfig, pretrain_backbone, record_categories

    if not os.path.isdir(args.records):
        raise SystemExit(f"affect-tf pretrain: --records {args.records}: not a directory")
    train = _split(args.records, ("train",))
    if train is None:
        raise SystemExit(f"affect-tf pretrain: {args.records}: no train split (records of affect-tf preprocess)")
    val = _split(args.records, ("validation", "val"))
    model_config = presets.get_preset(args.preset).config
    if args.small:
        model_config = presets.small_config(model_config)
    config = PretrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                            seed=args.seed, augment=not args.no_augment)
    categories = record_categories(train)
    print(f"pretrain: {args.preset}{' --small' if args.small else ''} on {train}"
          f" ({len(categories)} categories{': ' + ', '.join(categories) if categories else ''})", file=sys.stderr)
    report = pretrain_backbone(model_config, args.out, train, val, config, categories,
                               verbose=1 if sys.stdout.isatty() else 2)
    print(json.dumps({k: report[k] for k in ("backbone_weights", "backbone", "categories", "metrics")}, indent=2))
    return 0
