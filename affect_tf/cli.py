"""The ``affect-tf`` command line. Each sub-command maps onto one library call.

Library commands are listed in ``COMMANDS`` as ``module:register`` (one module per command in
:mod:`affect_tf.commands`) and imported only when used, so ``affect-tf presets`` does not pay for
Beam or TFX. Packages outside ``affect_tf`` (serving, pipelines) add commands through the
``affect_tf.commands`` entry-point group, which keeps the dependency direction one way.
"""
from __future__ import annotations

import argparse
import pkgutil
import sys
from importlib import metadata

# name -> ("module:function", one-line help). The function takes the sub-parser and sets
# ``func`` (called with the parsed args; returns an exit code).
COMMANDS: dict[str, tuple[str, str]] = {
    "presets": ("affect_tf.commands.presets:register", "list model presets with sizes and inputs"),
    "preview": ("affect_tf.commands.preview:register", "contact sheet PNG of aligned faces of a video"),
    "synth": ("affect_tf.commands.synth:register", "write the learnable synthetic drop"),
    "preprocess": ("affect_tf.commands.preprocess:register", "Beam job: dataset drop -> TFRecords"),
    "train": ("affect_tf.training.cli:register", "train a preset on records"),
    "export": ("affect_tf.commands.export:register", "export a trained model for TF Serving"),
    "fuse": ("affect_tf.commands.fuse:register", "decision-level fusion of trained models (004 eq. 1)"),
}


def _plugin_commands() -> dict[str, tuple[str, str]]:
    found = {}
    for ep in metadata.entry_points(group="affect_tf.commands"):
        found[ep.name] = (ep.value, f"(from {ep.value.split(':')[0]})")
    return found


def _all_commands() -> dict[str, tuple[str, str]]:
    return {**_plugin_commands(), **COMMANDS}


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
            pkgutil.resolve_name(target)(command_parser)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
