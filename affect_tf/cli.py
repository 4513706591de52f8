"""The ``affect-tf`` command line. Each sub-command maps onto one library call.

Library commands are listed in ``COMMANDS`` as ``module:register`` (one module per command in
:mod:`affect_tf.commands`) and imported only when used, so ``affect-tf presets`` does not pay for
Beam or TFX. Packages outside ``affect_tf`` (serving, pipelines) add commands through the
``affect_tf.commands`` entry-point group, which keeps the dependency direction one way.

Errors reach the user as one line, ``affect-tf COMMAND: <file>: <problem>``, with exit status 1;
``-v``/``--debug`` shows the traceback and the libraries' own logs (TensorFlow, absl, Beam, gRPC),
which are otherwise silenced before any of them is imported.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import logging
import os
import pathlib
import pkgutil
import sys
import traceback
import warnings
from importlib import metadata

# name -> ("module:function", one-line help). The function takes the sub-parser and sets
# ``func`` (called with the parsed args; returns an exit code).
COMMANDS: dict[str, tuple[str, str]] = {
    "presets": ("affect_tf.commands.presets:register", "list model presets with sizes and inputs"),
    "preview": ("affect_tf.commands.preview:register", "contact sheet PNG of aligned faces of a video"),
    "synth": ("affect_tf.commands.synth:register", "write the learnable synthetic drop"),
    "preprocess": ("affect_tf.commands.preprocess:register", "Beam job: dataset drop -> TFRecords"),
    "train": ("affect_tf.commands.train:register", "train a preset on records"),
    "pretrain": ("affect_tf.commands.pretrain:register", "pretrain a preset's face CNN on face images"),
    "export": ("affect_tf.commands.export:register", "export a trained model for TF Serving"),
    "fuse": ("affect_tf.commands.fuse:register", "decision-level fusion of trained models (004 eq. 1)"),
    "live": ("affect_tf.commands.live:register", "valence/arousal of a camera or network stream as it comes"),
}


VERBOSE_FLAGS = ("-v", "--verbose", "--debug")

# One line each command's --help ends with.
EXAMPLES = {
    "presets": "affect-tf presets cnn_3rnn",
    "preview": "affect-tf preview interview.mp4 --out sheet.png",
    "synth": "affect-tf synth --output drops/synthetic",
    "preprocess": "affect-tf preprocess --dataset affwild2 --root drops/affwild2 --output records/",
    "train": "affect-tf train --preset rnn_baseline_audio --records records/ --out runs/audio --small",
    "export": "affect-tf export runs/audio/model.keras models/affect",
    "fuse": "affect-tf fuse --member a.keras --member b.keras --records records/ --out fused/",
    "serve": "affect-tf serve affect=models/affect --rest-port 8501",
    "predict": "affect-tf predict interview.mp4 --model models/affect --out results/",
    "run": "affect-tf run --work-dir ./affect-tf-work",
    "live": "affect-tf live rtsp://camera.local/stream --model models/affect --out live.jsonl",
    "pretrain": "affect-tf pretrain --preset vgg_face_cnn --records records/faces --out backbones/ --small",
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after every option's help (unless it names one already); descriptions and
    examples keep their lines."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Options registered without a help text still show their default."""
    for action in parser._actions:
        if action.help is None and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"


def _docstring_help(target: str) -> str:
    """First sentence of the ``register`` function's docstring (read from the source file, so
    listing the commands imports none of them), without its leading ````usage````: part."""
    module, _, function = target.partition(":")
    try:
        tree = ast.parse(pathlib.Path(importlib.util.find_spec(module).origin).read_text())
        node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
        text = " ".join((ast.get_docstring(node) or "").split())
    except (ImportError, AttributeError, OSError, StopIteration, SyntaxError):
        return f"(from {module})"
    if text.startswith("``") and "``: " in text:
        text = text.split("``: ", 1)[1]
    return text.split(". ")[0].rstrip(".") or f"(from {module})"


def _plugin_commands() -> dict[str, tuple[str, str]]:
    found = {}
    for ep in metadata.entry_points(group="affect_tf.commands"):
        found[ep.name] = (ep.value, _docstring_help(ep.value))
    return found


def _all_commands() -> dict[str, tuple[str, str]]:
    return {**_plugin_commands(), **COMMANDS}


def quiet_libraries() -> None:
    """Silence TensorFlow's C++ log, absl, Beam, gRPC and the Python-version FutureWarnings; the
    environment variables reach Beam's worker processes too. Must run before TF is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # also the cuInit/cuFFT "E" lines
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("absl", "tensorflow", "tfx", "ml_metadata", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)  # its errors reach us as exceptions


def error_line(command: str, err: BaseException) -> str:
    """``affect-tf COMMAND: <file>: <problem>`` for an exception (the project's errors already
    start with the file they are about)."""
    if isinstance(err, OSError) and err.filename and err.strerror:
        text = f"{err.filename}: {err.strerror}"
    else:
        text = " ".join(str(err).split()) or type(err).__name__
        if not isinstance(err, (ValueError, OSError, SystemExit)) and type(err).__module__.split(".")[0] \
                not in ("affect_tf", "serving", "pipelines"):
            text = f"{type(err).__name__}: {text} (-v shows the traceback)"
    prefix = f"affect-tf {command}:" if command else "affect-tf:"
    return text if text.startswith(prefix) else f"{prefix} {text}"


def _version() -> str:
    from affect_tf import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own = argv[:argv.index("--")] if "--" in argv else argv
    verbose = any(a in VERBOSE_FLAGS for a in own)
    argv = [a for a in own if a not in VERBOSE_FLAGS] + argv[len(own):]
    if not verbose:
        quiet_libraries()
    commands = _all_commands()
    parser = argparse.ArgumentParser(
        prog="affect-tf",
        description="Continuous valence/arousal estimation from face video and speech.",
        epilog="-v/--verbose/--debug (anywhere before '--'): tracebacks and the libraries' logs.",
    )
    parser.add_argument("-v", "--verbose", "--debug", action="store_true",
                        help="show tracebacks and TensorFlow/Beam/absl logs")
    parser.add_argument("--version", action="version", version=f"affect-tf {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    try:
        for name, (target, help_text) in sorted(commands.items()):
            command_parser = sub.add_parser(name, help=help_text, description=help_text,
                                            formatter_class=_HelpFormatter,
                                            epilog=f"example:\n  {EXAMPLES[name]}" if name in EXAMPLES else None)
            if name == chosen:  # import only the command being run
                pkgutil.resolve_name(target)(command_parser)
                _show_defaults(command_parser)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"affect-tf {chosen or ''}: interrupted".replace("  ", " "), file=sys.stderr)
        return 130
    except SystemExit as err:
        if not isinstance(err.code, str):  # argparse's --help (0) and usage errors (2)
            raise
        if verbose:
            traceback.print_exc()
        print(error_line(chosen, err), file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 (every error reaches the user as one line)
        if verbose:
            traceback.print_exc()
        print(error_line(chosen, err), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
