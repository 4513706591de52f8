"""Shared fixtures and markers."""
import os
import pathlib

import pytest

import affect_tf  # noqa: F401  (first: it loads openSMILE before TensorFlow)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` (real media and annotation files); skips when it is not beside the repo."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not available: {SHARED_DATA} is missing")
    return SHARED_DATA


@pytest.fixture()
def preset_registry(monkeypatch):
    """``affect_tf.presets`` with every family's presets loaded; presets the test registers are
    gone when it ends (the registry is put back as it was)."""
    from affect_tf import presets

    presets.load_presets()
    monkeypatch.setattr(presets, "_PRESETS", dict(presets._PRESETS))
    return presets
