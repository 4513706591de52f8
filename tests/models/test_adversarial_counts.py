"""``affect-tf presets`` counts the ``001`` presets the way Table 11 does, within 10 % of it."""
import re

import pytest

from affect_tf import presets
from affect_tf.models.adversarial.adversarial_presets import TABLE_11


@pytest.mark.parametrize("name", ["vi_de", "vi_des", "avi_cas", "avi_gas",
                                  pytest.param("au_de", marks=pytest.mark.slow),
                                  pytest.param("au_des", marks=pytest.mark.slow)])
def test_table_11_convention_within_ten_percent(name):
    preset = presets.get_preset(name)
    line = presets.describe(preset)
    found = re.findall(r"(train|inference)=([\d,]+) \(paper ([\d,]+), ([+-][\d.]+)%\)", line)
    assert [kind for kind, *_ in found] == ["train", "inference"], line
    ours = {}
    for kind, count, paper, gap in found:
        ours[kind], paper = int(count.replace(",", "")), int(paper.replace(",", ""))
        assert paper == TABLE_11[name if name.startswith("avi") else name.split("_", 1)[1]][kind == "inference"]
        assert abs(ours[kind] - paper) <= 0.1 * paper, line
        assert float(gap) == pytest.approx(100 * (ours[kind] - paper) / paper, abs=0.06)
    # the table's training and inference rows differ by one D with its real/fake head
    model = preset.config.built_model()
    modality = getattr(preset.config, "modalities", (getattr(preset.config, "modality", None),))[0]
    d = model.get_layer(f"{modality}_discriminator")
    assert ours["train"] - ours["inference"] == d.count_params() + (0 if d.with_critic else 9 * d.filters[-1] + 1)
