"""``affect-tf fuse --member A.keras --member B.keras --records R --out X``: decision-level fusion
(``004`` eq. 1) of trained models as one servable model, each member weighted per dimension by its
CCC on the validation records (``R/val*``). Writes ``X/model.keras``, ``X/fusion.json`` and the
TF Serving export ``X/export/<version>/``."""
from __future__ import annotations

import argparse
import json
import pathlib


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--member", action="append", required=True,
                        help="a trained .keras model (repeat; at least two)")
    parser.add_argument("--records", required=True, help="records directory holding the val* split")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--window", type=int, default=80, help="frames per validation sequence")
    parser.set_defaults(func=run)


def validation_ccc(model, pattern: str, window: int) -> tuple[float, float]:
    """Corpus-level (valence, arousal) CCC of ``model`` over the labelled frames of ``pattern``."""
    import numpy as np

    from affect_tf import features, metrics
    from affect_tf.data import reader
    from affect_tf.models import label_mask

    shapes = model.config.input_shapes()
    face = shapes.get(features.FACE)
    data = reader.make_dataset(pattern, window=window, batch_size=4, shuffle=False,
                               modalities=tuple(k for k in shapes if k in reader.MODALITIES),
                               crop_size=face[1] if face else None)
    truth, pred, mask = [], [], []
    for x, y in data:
        pred.append(np.asarray(model(x, training=False)[features.TARGETS]))
        truth.append(y[features.TARGETS].numpy())
        mask.append(np.asarray(label_mask(x, y)))
    truth, pred, mask = (np.concatenate(a).reshape(-1, 2) for a in (truth, pred, mask))
    return tuple(float(metrics.ccc(truth[:, d], pred[:, d], mask[:, d])) for d in range(2))


def run(args) -> int:
    from affect_tf import export
    from affect_tf.files import atomic_path, write_text_atomic
    from affect_tf.models import load_model
    from affect_tf.models.cnn_rnn.fusion import fuse_members, fusion_weights
    from affect_tf.data.reader import split_pattern

    if len(args.member) < 2:
        raise SystemExit("affect-tf fuse: give at least two --member models")
    val = split_pattern(args.records, "val")
    if val is None:
        raise SystemExit(f"affect-tf fuse: --records {args.records}: no val split (val/* or val*)")
    members = []
    for path in args.member:
        try:
            members.append(load_model(path))
        except Exception as exc:  # keras raises many types; name the file either way
            raise SystemExit(f"affect-tf fuse: cannot load {path}: {exc}") from exc
    cccs = [validation_ccc(m, val, args.window) for m in members]
    try:
        fused = fuse_members(members, cccs)
    except ValueError as exc:
        raise SystemExit(f"affect-tf fuse: {exc}") from exc
    out = pathlib.Path(args.out)
    with atomic_path(out / "model.keras") as tmp:
        fused.save(str(tmp))
    report = {"members": args.member, "validation_ccc": cccs,
              "weights": fusion_weights(cccs).round(4).tolist(),
              "fused_validation_ccc": validation_ccc(fused, val, args.window)}
    version = export.export_for_serving(fused, out / "export", metadata={"decision_fusion": report})
    report["export"] = str(version)
    write_text_atomic(out / "fusion.json", json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0
