"""Fixtures shared by the data tests."""
import pathlib

import pytest

HERE = pathlib.Path(__file__).resolve().parent


@pytest.fixture()
def fake_processor_path(monkeypatch):
    """Make tests/data importable here and in Beam worker processes (PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(HERE))
    import os

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    return str(HERE)
