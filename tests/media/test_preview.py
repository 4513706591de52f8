"""The ``affect-tf preview`` command writes a contact sheet PNG."""
import numpy as np
from PIL import Image

from affect_tf.cli import main


def test_preview_writes_a_contact_sheet(face_video, tmp_path, capsys):
    out = tmp_path / "sheets" / "sheet.png"
    assert main(["preview", str(face_video), "--out", str(out), "--frames", "4"]) == 0
    sheet = np.asarray(Image.open(out).convert("RGB"))
    # one row of 2x tiles (96 px crops), each over its whole (square) frame drawn 192 px wide
    assert sheet.shape == (192 + 192 + 14, 8 * 192, 3)
    tile, context = sheet[:192, :192], sheet[192:384, :192]
    assert tile.std() > 20  # a face, not the grey no-face tile
    assert ((tile[..., 1] == 255) & (tile[..., 0] == 0)).sum() > 50  # green landmark dots
    yellow = (context[..., 0] == 255) & (context[..., 1] == 255) & (context[..., 2] == 0)
    assert yellow.sum() > 40  # the followed face boxed in the frame
    assert "face in 4" in capsys.readouterr().out
    assert not list(out.parent.glob("*.png.tmp*")) and len(list(out.parent.iterdir())) == 1


def test_preview_of_a_bad_file_fails_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage" * 50)
    assert main(["preview", str(bad), "--out", str(tmp_path / "x.png")]) == 1
    assert f"affect-tf preview: {bad}: " in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
