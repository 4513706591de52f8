"""The ``affect-tf`` command table: every command builds its parser; parsing lives in command
modules, not in the library modules whose functions the commands call (issue 15 item 8)."""
from __future__ import annotations

import importlib

import pytest

from affect_tf import cli


@pytest.mark.parametrize("name", sorted(cli._all_commands()))
def test_every_command_builds_its_parser(name, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    assert f"usage: affect-tf {name}" in capsys.readouterr().out


def test_no_command_prints_the_command_list(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert all(name in out for name in cli._all_commands())


@pytest.mark.parametrize("module", ["affect_tf.export", "affect_tf.data.beam_job", "affect_tf.data.synthetic",
                                    "affect_tf.media.preview", "serving.server", "serving.predict"])
def test_library_modules_parse_no_command_line(module):
    loaded = importlib.import_module(module)
    assert not {"register", "add_arguments", "argparse"} & set(vars(loaded)), module


def test_run_progress_bar_names_every_finished_component(capsys):
    """TFX's component lines drive the bar; a component that finishes within tqdm's refresh
    interval of the last draw is still shown as finished."""
    import logging

    from pipelines.progress import ComponentProgress

    progress = ComponentProgress()
    progress.start(["A", "B"])
    for line in ("Component A is running.", "Component A is finished.",
                 "Component B is running.", "Component B is finished."):
        progress.emit(logging.LogRecord("absl", logging.INFO, __file__, 0, line, None, None))
    progress.close()
    err = capsys.readouterr().err
    assert ", A finished]" in err and ", B finished]" in err and "2/2" in err, err
