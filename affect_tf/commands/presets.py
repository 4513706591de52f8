"""``affect-tf presets [PATTERN ...]``: the registered model presets with sizes and inputs."""
from __future__ import annotations

import argparse
import fnmatch
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("patterns", nargs="*", metavar="PATTERN",
                        help="shell-style name patterns (e.g. 'cnn_3rnn_*'); all presets by default")
    parser.add_argument("--names-only", action="store_true", help="print only the names")
    parser.set_defaults(func=run)


def run(args) -> int:
    from affect_tf import presets

    chosen = [p for p in presets.list_presets()
              if not args.patterns or any(fnmatch.fnmatchcase(p.name, pat) for pat in args.patterns)]
    if not chosen:
        print(f"no preset matches {' '.join(args.patterns)}", file=sys.stderr)
        return 2
    for preset in chosen:
        print(preset.name if args.names_only else presets.describe(preset), flush=True)
    return 0
