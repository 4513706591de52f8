"""``affect-tf export MODEL.keras BASE_DIR``: SavedModel version + TF Serving configs
(:func:`affect_tf.export.export_for_serving`, :func:`~affect_tf.export.models_config`,
:func:`~affect_tf.export.batching_config`)."""
from __future__ import annotations

import argparse
import json
import pathlib

from affect_tf import features as F


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a saved .keras model (from `affect-tf train`)")
    parser.add_argument("base_dir", help="TF Serving model base path; writes BASE_DIR/<version>/")
    parser.add_argument("--name", default=F.MODEL_NAME, help="model name in models.config")
    parser.add_argument("--version", type=int, default=None, help="default: newest + 1")
    parser.add_argument("--crop-size", type=int, default=None, choices=F.CROP_SIZES,
                        help=f"default: from the model config ({F.DEFAULT_CROP_SIZE} without a face input)")
    parser.add_argument("--metadata", default=None, help="JSON file merged into the metadata")
    parser.add_argument("--serving-base-path", default=None,
                        help="base_path written in models.config (e.g. /models/affect in a container)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from affect_tf import export
    from affect_tf.files import write_text_atomic
    from affect_tf.models import load_model

    try:
        model = load_model(args.model)
    except Exception as exc:  # keras raises many types; name the file either way
        raise SystemExit(f"cannot load model {args.model}: {exc}") from exc
    metadata = {"source_model": str(args.model)}
    if args.metadata:
        metadata.update(json.loads(pathlib.Path(args.metadata).read_text()))
    path = export.export_for_serving(model, args.base_dir, args.version, metadata, args.crop_size)
    base = pathlib.Path(args.base_dir)
    serving_path = args.serving_base_path or str(base.resolve())
    write_text_atomic(base / "models.config", export.models_config({args.name: serving_path}))
    write_text_atomic(base / "batching.config", export.batching_config())
    print(f"exported {path}; wrote {base / 'models.config'} and {base / 'batching.config'}")
    return 0
