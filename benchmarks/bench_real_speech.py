"""Learning from real emotional speech, speaker-independently, beside the classic baseline.

    .venv310/bin/python -m benchmarks.bench_real_speech [--presets rnn_baseline_audio,...]
        [--folds 7] [--max-folds K] [--train-flags "..."] [--mel-reference fixed|window_max]
        [--workdir DIR]

Corpus: ``../shared/data/audio/emodb_dev`` (339 EmoDB utterances of 7 speakers, 2 s each); the
category letter (6th character of the name) gives (valence, arousal) as in
``../shared/data/README.md``. Folds leave whole speakers out (``--folds`` groups of speakers; 7 =
leave one speaker out); ``--max-folds`` runs only the first K folds (a reduced run: say so when
quoting it).

Each preset goes through the product's own path, as a user runs it:
speech-only CSV manifest -> ``affect-tf preprocess`` (once) -> per fold ``affect-tf train --preset
NAME --train DIR --val DIR --out DIR`` (the preset's defaults, no other flag; ``--val`` holds the
next fold's speakers, on which the best epoch is picked, never the held-out ones) -> ``affect-tf
export`` -> the exported SavedModel's ``serving_sequence_example`` signature on the held-out
records -> the mean over each utterance's frames -> utterance-level CCC, pooled over all folds.

Baseline, same folds: openSMILE eGeMAPSv02 functionals (88 per utterance) standardised on the
training speakers (all but the held-out ones: it picks nothing on validation data), one RBF SVR
per dimension (scikit-learn defaults).

``--mel-reference`` preprocesses with that dB reference of the mel window (``docs/media.md``; the
records and runs go to their own folders, so both readings can be compared in one workdir).

Time: the baseline's is feature extraction + fits; a preset's is train + export summed over its
folds; the shared preprocessing is reported apart (stderr).
"""
from __future__ import annotations

import argparse
import csv
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the table, not TensorFlow's start-up lines

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "audio" / "emodb_dev"
CATEGORIES = {  # ../shared/data/README.md: letter -> (valence, arousal)
    "W": (-0.6, 0.8), "L": (-0.3, -0.7), "E": (-0.7, 0.3), "A": (-0.6, 0.6),
    "F": (0.8, 0.5), "T": (-0.7, -0.5), "N": (0.0, 0.0),
}
DEFAULT_PRESETS = ("rnn_baseline_audio", "implicit_fusion_audio")


def ccc(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return float(2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))


def utterances(data: pathlib.Path):
    """(stem, path, speaker, (valence, arousal)) of every wav, sorted."""
    out = []
    for wav in sorted(data.glob("*.wav")):
        letter = wav.stem[5]
        if letter not in CATEGORIES:
            raise SystemExit(f"{wav}: unknown category letter {letter!r}")
        out.append((wav.stem, wav, wav.stem[:2], CATEGORIES[letter]))
    if not out:
        raise SystemExit(f"{data}: no wav files")
    return out


def speaker_folds(speakers, n_folds: int):
    """Speakers dealt round-robin (sorted) into ``n_folds`` held-out groups."""
    ordered = sorted(set(speakers))
    if not 2 <= n_folds <= len(ordered):
        raise SystemExit(f"--folds must be in 2..{len(ordered)} (one speaker per fold at most)")
    return [ordered[i::n_folds] for i in range(n_folds)]


def affect_tf(*args, log=None):
    """Run an ``affect-tf`` command in a fresh interpreter (what a user runs)."""
    command = [sys.executable, "-m", "affect_tf.cli", *map(str, args)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if log is not None:
        pathlib.Path(log).write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def preprocess(items, workdir: pathlib.Path, mel_reference=None) -> pathlib.Path:
    """Speech-only manifest (utterance label as a constant time-stamped trace) -> records."""
    records = workdir / ("records" if mel_reference is None else f"records_mel_{mel_reference}")
    if (records / "summary.json").exists():
        return records
    labels = workdir / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    manifest = workdir / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recording", "video", "audio", "subject", "labels", "split"])
        for stem, wav, speaker, (v, a) in items:
            (labels / f"{stem}.csv").write_text(f"time,valence,arousal\n0,{v},{a}\n10,{v},{a}\n")
            writer.writerow([stem, "", str(wav), speaker, f"labels/{stem}.csv", "train"])
    flags = ["--mel-reference", mel_reference] if mel_reference else []
    affect_tf("preprocess", "--dataset", "csv", "--root", manifest, "--output", records, *flags,
              log=workdir / f"{records.name}.log")
    return records


def fold_dirs(records, items, held_out, validation, fold_dir: pathlib.Path):
    """train/, validation/ and test/ folders of links to the records of each group of speakers:
    the best epoch is chosen on ``validation`` speakers, never on the ``held_out`` (test) ones."""
    for split in ("train", "validation", "test"):
        (fold_dir / split).mkdir(parents=True, exist_ok=True)
    for stem, _, speaker, _ in items:
        source = records / "train" / f"{stem}.tfrecord.gz"
        split = "test" if speaker in held_out else "validation" if speaker in validation else "train"
        link = fold_dir / split / source.name
        if not link.exists():
            link.symlink_to(source)
    return fold_dir / "train", fold_dir / "validation", fold_dir / "test"


def utterance_predictions(export_dir, val_dir):
    """{stem: mean (valence, arousal) over its real frames} from the exported SavedModel."""
    import tensorflow as tf

    from affect_tf import export

    versions = sorted((p for p in pathlib.Path(export_dir).iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    serve = tf.saved_model.load(str(versions[-1])).signatures[export.SEQUENCE_EXAMPLE_SIGNATURE]
    out = {}
    for path in sorted(pathlib.Path(val_dir).glob("*.tfrecord.gz")):
        examples = list(tf.data.TFRecordDataset(str(path), compression_type="GZIP").as_numpy_iterator())
        result = serve(examples=tf.constant(examples))
        real = result["frame_mask"].numpy() > 0
        out[path.name.split(".")[0]] = (float(result[export.OUTPUT_VALENCE].numpy()[real].mean()),
                                        float(result[export.OUTPUT_AROUSAL].numpy()[real].mean()))
    return out


def run_preset(preset, records, items, folds, workdir, max_folds=None, train_flags=(), name=None):
    """Utterance predictions of every fold's test speakers and the train + export seconds summed
    over folds (from the run's files, so a rerun that keeps finished folds reports the same time).
    Fold k validates on the speakers of fold k + 1 and trains on the others."""
    predictions, seconds = {}, 0.0
    for k, held_out in enumerate(folds[:max_folds]):
        fold_dir = workdir / f"fold{k}{records.name[len('records'):]}"
        train, val, test = fold_dirs(records, items, held_out, folds[(k + 1) % len(folds)], fold_dir)
        run = workdir / (name or preset) / f"fold{k}"
        if not (run / "export").is_dir():  # a rerun keeps the folds already done
            affect_tf("train", "--preset", preset, "--train", train, "--val", val, "--out", run,
                      *train_flags, log=workdir / (name or preset) / f"fold{k}.log")
            affect_tf("export", run / "model.keras", run / "export")
        seconds += (run / "export").stat().st_mtime - (run / "train_config.json").stat().st_mtime
        predictions.update(utterance_predictions(run / "export", test))
    return predictions, seconds


def egemaps_functionals(items, workdir):
    cache = workdir / "egemaps_functionals.npy"
    if cache.exists():
        return np.load(cache)
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    table = np.stack([smile.process_file(str(wav)).to_numpy()[0] for _, wav, _, _ in items])
    np.save(cache, table)
    return table


def run_baseline(items, folds, workdir, max_folds=None):
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    x = egemaps_functionals(items, workdir)
    y = np.array([va for _, _, _, va in items])
    speakers = np.array([s for _, _, s, _ in items])
    predictions = {}
    for held_out in folds[:max_folds]:
        test = np.isin(speakers, held_out)
        scaler = StandardScaler().fit(x[~test])
        pred = np.stack([SVR().fit(scaler.transform(x[~test]), y[~test, d]).predict(scaler.transform(x[test]))
                         for d in range(2)], -1)
        for i, p in zip(np.flatnonzero(test), pred):
            predictions[items[i][0]] = tuple(p)
    return predictions


def scores(predictions, items):
    stems = [s for s, _, _, _ in items if s in predictions]
    pred = np.array([predictions[s] for s in stems])
    truth = np.array([va for s, _, _, va in items if s in predictions])
    v, a = ccc(pred[:, 0], truth[:, 0]), ccc(pred[:, 1], truth[:, 1])
    return v, a, (v + a) / 2, len(stems)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=pathlib.Path, default=DATA)
    parser.add_argument("--presets", default=",".join(DEFAULT_PRESETS))
    parser.add_argument("--folds", type=int, default=7, help="speaker groups (7: leave one speaker out)")
    parser.add_argument("--max-folds", type=int, default=None, help="run only the first K folds")
    parser.add_argument("--train-flags", default="",
                        help="extra `affect-tf train` flags for exploring, e.g. '--epochs 30' (the "
                             "benchmark's figures use none: the presets' defaults)")
    parser.add_argument("--mel-reference", choices=("fixed", "window_max"), default=None,
                        help="the mel window's dB reference at preprocessing (default: the product's)")
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("/tmp/bench_real_speech"))
    args = parser.parse_args(argv)

    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: corpus folder not found")
    items = utterances(args.data)
    folds = speaker_folds([s for _, _, s, _ in items], args.folds)
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    started = time.time()
    rows.append(("eGeMAPS functionals + SVR", *scores(run_baseline(items, folds, args.workdir, args.max_folds), items),
                 time.time() - started))
    started = time.time()
    records = preprocess(items, args.workdir, args.mel_reference)
    print(f"preprocess: {time.time() - started:.0f} s (shared by the presets)", file=sys.stderr)
    for preset in [p for p in args.presets.split(",") if p]:
        name = preset + (f" (mel {args.mel_reference})" if args.mel_reference else "")
        predictions, seconds = run_preset(preset, records, items, folds, args.workdir, args.max_folds,
                                          args.train_flags.split(), name.replace(" (mel ", "_mel_").rstrip(")"))
        rows.append((name, *scores(predictions, items), seconds))
        print("done:", rows[-1], file=sys.stderr, flush=True)

    held = ", ".join("+".join(f) for f in folds[: args.max_folds])
    print(f"# emodb_dev, {len(items)} utterances, held-out speakers per fold: {held}; "
          f"{time.strftime('%Y-%m-%d')}, {platform.node()} ({os.cpu_count()} CPUs)")
    print("| model | valence CCC | arousal CCC | mean CCC | utterances | time (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, v, a, m, n, seconds in rows:
        print(f"| {name} | {v:.3f} | {a:.3f} | {m:.3f} | {n} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
