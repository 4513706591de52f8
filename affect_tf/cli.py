"""The ``affect-tf`` command line. Each sub-command maps onto one library call.

Library commands are listed in ``COMMANDS`` as ``module:register`` and imported only when used,
so ``affect-tf presets`` does not pay for Beam or TFX. Packages outside ``affect_tf`` (serving,
pipelines) add commands through the ``affect_tf.commands`` entry-point group, which keeps the
dependency direction one way.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

# name -> ("module:function", one-line help). The function takes the sub-parser and sets
# ``func`` (called with the parsed args; returns an exit code).
COMMANDS: dict[str, tuple[str, str]] = {
    "presets": ("affect_tf.cli:register_presets", "list model presets with sizes and inputs"),
    "preview": ("affect_tf.media.preview:register", "contact sheet PNG of aligned faces of a video"),
    "synth": ("affect_tf.data.synthetic:register", "write the learnable synthetic drop"),
    "preprocess": ("affect_tf.data.beam_job:register", "Beam job: dataset drop -> TFRecords"),
    "train": ("affect_tf.training.cli:register", "train a preset on records"),
    "export": ("affect_tf.export:register", "export a trained model for TF Serving"),
}


def _plugin_commands() -> dict[str, tuple[str, str]]:
    found = {}
    for ep in metadata.entry_points(group="affect_tf.commands"):
        found[ep.name] = (ep.value, f"(from {ep.value.split(':')[0]})")
    return found


def _all_commands() -> dict[str, tuple[str, str]]:
    return {**_plugin_commands(), **COMMANDS}


def _load(target: str):
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def register_presets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("patterns", nargs="*", metavar="PATTERN",
                        help="shell-style name patterns (e.g. 'cnn_3rnn_*'); all presets by default")
    parser.add_argument("--names-only", action="store_true", help="print only the names")

    def run(args) -> int:
        import fnmatch

        from affect_tf import presets

        chosen = [p for p in presets.list_presets()
                  if not args.patterns or any(fnmatch.fnmatchcase(p.name, pat) for pat in args.patterns)]
        if not chosen:
            print(f"no preset matches {' '.join(args.patterns)}", file=sys.stderr)
            return 2
        for preset in chosen:
            print(preset.name if args.names_only else presets.describe(preset), flush=True)
        return 0

    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _all_commands()
    parser = argparse.ArgumentParser(
        prog="affect-tf",
        description="Continuous valence/arousal estimation from face video and speech.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (target, help_text) in sorted(commands.items()):
        command_parser = sub.add_parser(name, help=help_text)
        if name == chosen:  # import only the command being run
            _load(target)(command_parser)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
