"""Learning from real faces, subject-independently, beside a classic baseline.

    .venv310/bin/python -m benchmarks.bench_real_faces [--folds 5] [--max-folds K]
        [--train-root DIR --test-root DIR] [--pretrain-root DIR] [--with-landmarks] [--workdir DIR]

Data (``../shared/data/README.md``): by default ``faces/ckplus48_dev`` (621 CK+48 crops of 72
subjects, 7 categories) in ``--folds`` subject-independent folds (a subject's images are all in
one fold); with ``--train-root``/``--test-root`` any two ``image_folder`` drops (train on one,
test on the other). Categories give (valence, arousal) through the circumplex table
(:mod:`affect_tf.data.circumplex`); a category's accuracy reads a (valence, arousal) prediction
as the category whose point is nearest.

Everything goes through the product's own path: ``image_folder`` adapter -> the preprocessing
Beam job (detection, landmarks, alignment to 96x96 crops, records) -> for the CNN,
``train_and_evaluate`` of the CPU-sized per-frame CNN (``vgg_face_cnn --small``: VGG-Face layout
with widths / 8, landmarks + pool5 -> FC -> valence/arousal; on 48x48 input, see ``CROP``), once from random initialisation and
once from the backbone that :func:`affect_tf.training.pretrain.pretrain_backbone` (``affect-tf
pretrain``) learnt on ``--pretrain-root`` (default ``faces/fer2013_subset``, 7,000 FER-2013 crops,
all of whom are other people), loaded through ``TrainConfig.backbone_weights``. Both runs use the
same recipe; the best epoch is picked on the next fold's subjects, never on the test ones.

Baseline, same folds and the same aligned crops: HOG of the grey crop (scikit-image, 8x8-pixel
cells) standardised on the training subjects, one RBF SVR per dimension (scikit-learn defaults).

A third CNN run keeps the pretrained CNN as loaded and trains only the layers above it
(``TrainConfig.freeze_backbone``, ``affect-tf train --freeze-backbone``). The CNN reads the face
image alone, the baseline's input and what pretraining changes; ``--with-landmarks`` also gives
it the 68 landmarks, as the preset does (on CK+'s posed expressions they carry most of the answer
and hide what the backbone learnt: both CNN runs score alike, docs/faces.md).

Output: a table, then as the last line one JSON object ``{"baseline": F, "random_init": F,
"pretrained": F, "pretrained_frozen": F, "images": N, "subjects": N}``, each F ``{"valence",
"arousal", "mean", "accuracy"}`` over the test images (CCC, and the share of right categories).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
FACES = REPO.parent / "shared" / "data" / "faces"
PRESET = "vgg_face_cnn"
# the fine-tuning recipe, the same for both CNN runs
FINETUNE = {"epochs": 20, "batch_size": 16, "window": 3, "learning_rate": 1e-3,
            "early_stopping_patience": 6, "tensorboard": False}
PRETRAIN_EPOCHS = 16  # FER-2013's CCC still rises at 16 (docs/faces.md); 13 s an epoch on 2 idle cores
# The CNN sees 48x48 crops (both sets are 48x48 images: the records' 96x96 crops are upsampled
# copies), resized by the reader; a quarter of the compute at 96. Its backbone file also loads
# into the 96x96 preset (the convolutions do not depend on the input size).
CROP = 48


def ccc(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return float(2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))


def preprocess(root: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """The image_folder drop at ``root`` -> records under ``out`` (once; reruns reuse them)."""
    from affect_tf.data import beam_job

    if not (out / "summary.json").exists():
        started = time.time()
        summary = beam_job.run_preprocess("image_folder", root, out, workers=2)
        if summary["failed"]:
            raise SystemExit(f"{root}: {summary['failed']} recordings failed: {summary['errors'][:3]}")
        print(f"preprocess {root.name}: {summary['frames']} images, {time.time() - started:.0f} s",
              file=sys.stderr, flush=True)
    return out / "train"


def read_frames(records: pathlib.Path) -> dict:
    """Every frame of the records: ids, subject, category, face crop (uint8), landmarks, labels."""
    import tensorflow as tf

    from affect_tf import features as F
    from affect_tf.data import reader, schema

    columns = {k: [] for k in ("file", "subject", "category", "face", "landmarks", "va")}
    for path in reader.list_files(str(records)):
        for serialized in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            feats, labels, meta = schema.parse_sequence_example(serialized, decode_face_uint8=True)
            for i in range(int(meta["n_frames"])):
                columns["file"].append(path)
                columns["subject"].append(meta["subject"].numpy().decode())
                columns["category"].append(meta["category"].numpy().decode())
                columns["face"].append(feats[F.FACE][i].numpy())
                columns["landmarks"].append(feats[F.LANDMARKS][i].numpy())
                columns["va"].append(labels[F.TARGETS][i].numpy())
    return {k: np.array(v) if k != "file" else v for k, v in columns.items()}


def subject_folds(subjects, n_folds: int):
    """Subjects dealt round-robin (sorted) into ``n_folds`` held-out groups."""
    ordered = sorted(set(subjects))
    if not 2 <= n_folds <= len(ordered):
        raise SystemExit(f"--folds must be in 2..{len(ordered)}")
    return [ordered[i::n_folds] for i in range(n_folds)]


def link_split(files, folder: pathlib.Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(set(files)):
        link = folder / pathlib.Path(path).name
        if not link.exists():
            link.symlink_to(path)
    return str(folder)


def hog_features(faces) -> np.ndarray:
    from skimage.feature import hog

    return np.stack([hog(face.mean(-1), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
                     for face in faces])


def baseline_predictions(frames, train, test) -> np.ndarray:
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    x = hog_features(frames["face"])
    scaler = StandardScaler().fit(x[train])
    return np.stack([SVR().fit(scaler.transform(x[train]), frames["va"][train, d]).predict(scaler.transform(x[test]))
                     for d in range(2)], -1)


def cnn_predictions(model_config, train_dir, val_dir, test_dir, workdir, backbone=None, epochs=None,
                    freeze=False) -> np.ndarray:
    """Train the per-frame CNN (from ``backbone`` when given, kept as loaded with ``freeze``) and
    predict every test frame, in the order of :func:`read_frames` on ``test_dir``."""
    from affect_tf import features as F
    from affect_tf.data import reader
    from affect_tf.training import TrainConfig, train_and_evaluate

    config = TrainConfig(preset=PRESET, model=model_config, backbone_weights=backbone, freeze_backbone=freeze,
                         **{**FINETUNE, "epochs": epochs or FINETUNE["epochs"]})
    result = train_and_evaluate(config, workdir, train_data=train_dir, val_data=val_dir)
    data = reader.make_dataset(test_dir, window=FINETUNE["window"], batch_size=32,
                               modalities=(F.FACE, F.LANDMARKS), shuffle=False, crop_size=model_config.crop_size)
    out = []
    for feats, _ in data:
        pred = result.model(feats, training=False)[F.TARGETS].numpy()
        out.append(pred[feats[F.FRAME_MASK].numpy() > 0])
    return np.concatenate(out)


def scores(pred, truth, categories) -> dict:
    from affect_tf.data import circumplex

    names = sorted(set(categories))
    guess = np.array(names)[circumplex.nearest_category(pred, names)]
    v, a = ccc(pred[:, 0], truth[:, 0]), ccc(pred[:, 1], truth[:, 1])
    return {"valence": round(v, 4), "arousal": round(a, 4), "mean": round((v + a) / 2, 4),
            "accuracy": round(float(np.mean(guess == np.asarray(categories))), 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=pathlib.Path, default=FACES / "ckplus48_dev",
                        help="image_folder drop split into subject folds (without --train-root)")
    parser.add_argument("--train-root", type=pathlib.Path, help="image_folder drop to train on")
    parser.add_argument("--test-root", type=pathlib.Path, help="image_folder drop to test on")
    parser.add_argument("--pretrain-root", type=pathlib.Path, default=FACES / "fer2013_subset")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-folds", type=int, default=None, help="run only the first K folds")
    parser.add_argument("--pretrain-epochs", type=int, default=PRETRAIN_EPOCHS)
    parser.add_argument("--epochs", type=int, default=FINETUNE["epochs"], help="fine-tuning epochs")
    parser.add_argument("--with-landmarks", action="store_true",
                        help="the CNN also reads the 68 landmarks, as the preset does (default: the image alone)")
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("/tmp/bench_real_faces"))
    args = parser.parse_args(argv)
    if bool(args.train_root) != bool(args.test_root):
        raise SystemExit("--train-root and --test-root go together")
    for root in filter(None, (args.data, args.train_root, args.test_root, args.pretrain_root)):
        if not root.is_dir():
            raise SystemExit(f"{root}: image folder not found")

    from affect_tf import presets
    from affect_tf.training.pretrain import PretrainConfig, pretrain_backbone, record_categories

    work = args.workdir
    model_config = presets.small_config(presets.get_preset(PRESET).config).replace(
        crop_size=CROP, use_landmarks=args.with_landmarks)
    started = time.time()
    pretrain_records = preprocess(args.pretrain_root, work / "records" / args.pretrain_root.name)
    backbone = work / f"pretrain_{args.pretrain_root.name}_{args.pretrain_epochs}epochs" / "pretrain.json"
    if not backbone.exists():
        t = time.time()
        pretrain_backbone(model_config, backbone.parent, str(pretrain_records), None,
                          PretrainConfig(epochs=args.pretrain_epochs), record_categories(str(pretrain_records)),
                          verbose=2)
        print(f"pretrain: {time.time() - t:.0f} s", file=sys.stderr, flush=True)
    backbone_file = json.loads(backbone.read_text())["backbone_weights"]

    # (train frames, validation frames, test frames) per fold, as index arrays into `frames`
    if args.train_root:
        train_frames = read_frames(preprocess(args.train_root, work / "records" / "train_root"))
        test_frames = read_frames(preprocess(args.test_root, work / "records" / "test_root"))
        inner = subject_folds(train_frames["subject"], min(5, len(set(train_frames["subject"]))))
        n_train = len(train_frames["va"])
        frames = {k: (v + test_frames[k]) if k == "file" else np.concatenate([v, test_frames[k]])
                  for k, v in train_frames.items()}
        is_val = np.isin(frames["subject"], inner[0]) & (np.arange(len(frames["va"])) < n_train)
        folds = [(~is_val & (np.arange(len(frames["va"])) < n_train), is_val, np.arange(len(frames["va"])) >= n_train)]
    else:
        frames = read_frames(preprocess(args.data, work / "records" / args.data.name))
        groups = subject_folds(frames["subject"], args.folds)
        folds = []
        for k, held_out in enumerate(groups[:args.max_folds]):
            test = np.isin(frames["subject"], held_out)
            val = np.isin(frames["subject"], groups[(k + 1) % len(groups)])
            folds.append((~test & ~val, val, test))
    print(f"data ready: {time.time() - started:.0f} s", file=sys.stderr, flush=True)

    arms = {"random_init": (None, False), "pretrained": (backbone_file, False),
            "pretrained_frozen": (backbone_file, True)}
    predictions = {name: np.zeros_like(frames["va"]) for name in ("baseline", *arms)}
    tested = np.zeros(len(frames["va"]), bool)
    seconds = dict.fromkeys(predictions, 0.0)
    for k, (train, val, test) in enumerate(folds):
        t = time.time()
        predictions["baseline"][test] = baseline_predictions(frames, train | val, test)
        seconds["baseline"] += time.time() - t
        fold = work / f"fold{k}{'_landmarks' if args.with_landmarks else ''}"
        dirs = [link_split([frames["file"][i] for i in np.flatnonzero(mask)], fold / name)
                for mask, name in ((train, "train"), (val, "validation"), (test, "test"))]
        order = np.flatnonzero(test)[np.argsort([frames["file"][i] for i in np.flatnonzero(test)], kind="stable")]
        for name, (weights, freeze) in arms.items():
            t = time.time()
            predictions[name][order] = cnn_predictions(model_config, *dirs, fold / name, weights, args.epochs, freeze)
            seconds[name] += time.time() - t
            print(f"fold {k} {name}: {scores(predictions[name][order], frames['va'][order], frames['category'][order])}",
                  file=sys.stderr, flush=True)
        tested |= test

    truth, categories = frames["va"][tested], frames["category"][tested]
    results = {name: scores(pred[tested], truth, categories) for name, pred in predictions.items()}
    labels = {"baseline": "HOG + SVR", "random_init": f"{PRESET} --small, random init",
              "pretrained": f"{PRESET} --small, pretrained on {args.pretrain_root.name}, fine-tuned",
              "pretrained_frozen": f"{PRESET} --small, pretrained on {args.pretrain_root.name}, CNN frozen"}
    source = (f"train {args.train_root.name}, test {args.test_root.name}" if args.train_root
              else f"{args.data.name}, {len(folds)} subject-independent folds")
    source += ", CNN input: face image and landmarks" if args.with_landmarks else ", CNN input: face image only"
    print(f"# {source}; {time.strftime('%Y-%m-%d')}, {platform.node()} ({os.cpu_count()} CPUs), "
          f"total {time.time() - started:.0f} s")
    print("| model | valence CCC | arousal CCC | mean CCC | category accuracy | time (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, f in results.items():
        print(f"| {labels[name]} | {f['valence']:.3f} | {f['arousal']:.3f} | {f['mean']:.3f} | "
              f"{f['accuracy']:.3f} | {seconds[name]:.0f} |")
    print(json.dumps({**results, "images": int(tested.sum()), "subjects": len(set(frames["subject"][tested]))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
