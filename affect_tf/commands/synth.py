"""``affect-tf synth --output DIR``: :func:`affect_tf.data.synthetic.write_synthetic_drop`."""
from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="folder to write the drop into")
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--videos-per-subject", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args) -> int:
    from affect_tf.data.synthetic import write_synthetic_drop

    names = write_synthetic_drop(args.output, args.subjects, args.videos_per_subject,
                                 args.seconds, args.fps, args.seed)
    print(f"wrote {len(names)} videos to {args.output} (Aff-Wild2 layout; "
          f"affect-tf preprocess --dataset affwild2 --root {args.output})", flush=True)
    return 0
