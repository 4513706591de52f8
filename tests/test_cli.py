"""The ``affect-tf`` command table: every command builds its parser; parsing lives in command
modules, not in the library modules whose functions the commands call (issue 15 item 8)."""
from __future__ import annotations

import importlib
import logging

import pytest

from affect_tf import cli


@pytest.mark.parametrize("name", sorted(cli._all_commands()))
def test_every_command_builds_its_parser(name, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: affect-tf {name}" in out
    # an example to copy, and the defaults (issue 28)
    assert f"example:\n  affect-tf {name}" in out


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--chunk-frames CHUNK_FRAMES (default: 80)" in out  # an option registered without help


def test_version(capsys):
    from affect_tf import __version__

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"affect-tf {__version__}\n"


def test_run_help_is_not_cut_off(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    description = capsys.readouterr().out.split("options:")[0]
    assert "and how to query it." in description


def test_preview_errors_in_the_documented_form(tmp_path, capsys):
    missing = tmp_path / "missing.mp4"
    assert cli.main(["preview", str(missing), "--out", str(tmp_path / "sheet.png")]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"affect-tf preview: {missing}: no such file\n" and "error:" not in captured.out


def test_no_command_prints_the_command_list(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert all(name in out for name in cli._all_commands())


@pytest.mark.parametrize("module", ["affect_tf.export", "affect_tf.data.beam_job", "affect_tf.data.synthetic",
                                    "affect_tf.media.preview", "affect_tf.serving.server", "affect_tf.serving.predict"])
def test_library_modules_parse_no_command_line(module):
    loaded = importlib.import_module(module)
    assert not {"register", "add_arguments", "argparse"} & set(vars(loaded)), module


def test_run_progress_bar_names_every_finished_component(capsys):
    """TFX's component lines drive the bar; a component that finishes within tqdm's refresh
    interval of the last draw is still shown as finished."""
    import logging

    from affect_tf.pipelines.progress import ComponentProgress

    progress = ComponentProgress()
    progress.start(["A", "B"])
    for line in ("Component A is running.", "Component A is finished.", "Component B is running.",
                 "Training progress: 03_s_2 epoch 2/5, val_mean_ccc 0.412", "Component B is finished."):
        progress.emit(logging.LogRecord("absl", logging.INFO, __file__, 0, line, None, None))
    progress.close()
    err = capsys.readouterr().err
    assert ", A finished]" in err and ", B finished]" in err and "2/2" in err, err
    assert ", Trainer: 03_s_2 epoch 2/5, val_mean_ccc 0.412]" in err, err


def test_epoch_log_names_the_stage_epoch_and_monitored_value(caplog):
    from affect_tf.training.fitting import EpochLog

    with caplog.at_level(logging.INFO, logger="absl"):
        EpochLog("03_s_2", 5, "val_mean_ccc").on_epoch_end(1, {"val_mean_ccc": 0.41234, "loss": 0.5})
    assert caplog.messages == ["Training progress: 03_s_2 epoch 2/5, val_mean_ccc 0.412"]
