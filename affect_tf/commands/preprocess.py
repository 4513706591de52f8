"""``affect-tf preprocess --dataset NAME --root DIR --output DIR [-- BEAM OPTIONS]``:
:func:`affect_tf.data.beam_job.run_preprocess`."""
from __future__ import annotations

import argparse
import json
import sys

from affect_tf import features as F
from affect_tf.data import adapters, beam_job, schema


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Dataset drop -> sharded TFRecords per split + summary.json. "
                          "Arguments after '--' go to Beam (e.g. -- --runner=FlinkRunner ...).")
    parser.add_argument("--dataset", required=True, choices=sorted(adapters.ADAPTERS))
    parser.add_argument("--root", required=True, help="dataset folder (or manifest CSV for csv)")
    parser.add_argument("--output", required=True, help="output folder (local or gs://...)")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes")
    parser.add_argument("--dask", metavar="HOST:PORT",
                        help="run on this Dask scheduler (the workers must read --root and --output)")
    parser.add_argument("--crop-size", type=int, default=F.DEFAULT_CROP_SIZE, choices=F.CROP_SIZES)
    parser.add_argument("--chunk-frames", type=int, default=500)
    parser.add_argument("--chunk-overlap", type=int, default=16)
    parser.add_argument("--face-format", default="png", choices=schema.FACE_FORMATS)
    parser.add_argument("--mel-reference", default=None, choices=("fixed", "window_max"),
                        help="dB of the mel window against full scale (default, fixed) or against "
                        "each window's maximum (before issue 24; docs/media.md)")
    parser.add_argument("--compression", default="gzip", choices=sorted(beam_job.RECORD_SUFFIX))
    parser.add_argument("--folds", type=int, default=None, help="re-split into k subject folds")
    parser.add_argument("--fold", type=int, default=0, help="fold held out as validation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N recordings")
    parser.add_argument("--processor", default=beam_job.DEFAULT_PROCESSOR, help="module:factory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("beam_args", nargs=argparse.REMAINDER, help="Beam pipeline options after --")
    parser.set_defaults(func=run)


def run(args) -> int:
    beam_args = [a for a in args.beam_args if a != "--"]
    if args.dask:
        beam_args.append(f"--dask_client_address={args.dask}")
    summary = beam_job.run_preprocess(
        args.dataset, args.root, args.output, beam_args, workers=args.workers,
        processor=args.processor, crop_size=args.crop_size,
        processor_options={"mel_reference": args.mel_reference} if args.mel_reference else None, chunk_frames=args.chunk_frames,
        chunk_overlap=args.chunk_overlap, face_format=args.face_format,
        compression=args.compression, n_folds=args.folds, fold=args.fold, seed=args.seed,
        limit=args.limit, progress=not args.quiet)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("errors", "warnings")}, sort_keys=True))
    for warning in summary["warnings"]:
        print(f"WARNING {warning['id']}: {warning['warning']}", file=sys.stderr)
    for error in summary["errors"]:
        print(f"FAILED {error['id']}: {error['error']}", file=sys.stderr)
    return 1 if summary["failed"] else 0
