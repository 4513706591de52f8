"""docs/presets.md is `affect-tf presets --markdown`: generated from the registry, and current."""
import pathlib

import pytest

from affect_tf import presets
from affect_tf.commands.presets import markdown_page

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "presets.md"


@pytest.mark.heavy  # many minutes on an idle 2-core machine: on demand, not in CI
def test_presets_page_is_current():
    assert PAGE.read_text() == markdown_page(presets.list_presets()), (
        "docs/presets.md is stale: regenerate it with `affect-tf presets --markdown > docs/presets.md`")


def test_presets_page_lists_every_preset_once():
    rows = [line.split("`")[1] for line in PAGE.read_text().splitlines() if line.startswith("| `")]
    assert rows == [p.name for p in presets.list_presets()]
