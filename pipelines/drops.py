"""The embedded default data: the learnable synthetic drop, generated on demand, and "new drops"
holding further synthetic subjects (for the retraining walk-through)."""
from __future__ import annotations

import os
import pathlib
import shutil

# Small enough for a few CPU minutes, large enough for subject-independent splits.
DEFAULT_SYNTHETIC = {"n_subjects": 6, "n_videos_per_subject": 2, "seconds": 4.0, "fps": 10.0, "seed": 0}


def ensure_synthetic_drop(root: str, **options) -> str:
    """Write the synthetic drop under ``root`` unless a complete one is there (``subjects.csv`` is
    written last, so its presence means complete); returns ``root``."""
    from affect_tf.data.synthetic import write_synthetic_drop

    options = {**DEFAULT_SYNTHETIC, **options}
    if not (pathlib.Path(root) / "subjects.csv").exists():
        write_synthetic_drop(root, **options)
    return root


def new_subjects_drop(base_root: str, new_root: str, n_new: int = 1, **options) -> str:
    """A new drop at ``new_root`` holding only ``n_new`` synthetic subjects that ``base_root``
    (written with the same ``options``) does not have, all in the training split.

    The subjects are numbered after the base drop's, so their recording ids are new.
    """
    from affect_tf.data.synthetic import write_synthetic_drop

    options = {**DEFAULT_SYNTHETIC, **options}
    base, new = pathlib.Path(base_root), pathlib.Path(new_root)
    if (new / "subjects.csv").exists():
        return new_root
    n_base = options.pop("n_subjects")
    scratch = pathlib.Path(f"{new_root}.scratch")
    (scratch / "videos").mkdir(parents=True, exist_ok=True)
    for video in (base / "videos").glob("*"):  # reuse the base videos instead of rendering them again
        target = scratch / "videos" / video.name
        if not target.exists():
            os.link(video, target)
    names = write_synthetic_drop(scratch, n_subjects=n_base + n_new, n_validation_subjects=0, **options)
    fresh = [n for n in names if int(n.split("_s")[1].split("_")[0]) >= n_base]
    tmp = pathlib.Path(f"{new_root}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "videos").mkdir(parents=True)
    (tmp / "annotations" / "VA_Set" / "Train_Set").mkdir(parents=True)
    rows = [r for r in (scratch / "subjects.csv").read_text().splitlines()[1:] if r.split(",")[0] in fresh]
    for name in fresh:
        shutil.move(str(scratch / "videos" / f"{name}.mp4"), tmp / "videos" / f"{name}.mp4")
        shutil.move(str(scratch / "annotations" / "VA_Set" / "Train_Set" / f"{name}.txt"),
                    tmp / "annotations" / "VA_Set" / "Train_Set" / f"{name}.txt")
    (tmp / "subjects.csv").write_text("video,subject\n" + "".join(r + "\n" for r in rows))
    shutil.rmtree(scratch)
    shutil.rmtree(new, ignore_errors=True)
    os.rename(tmp, new)
    return new_root
