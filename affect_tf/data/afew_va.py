"""AFEW-VA (per-frame valence/arousal and 68 landmarks per clip) -> recordings."""
from __future__ import annotations

import json
import pathlib

import numpy as np

from affect_tf.data.recordings import IMAGE_EXTENSIONS, LayoutError, Recording, mask_and_clip, recording_or_error

def load_afew_va(root) -> list[Recording]:
    """AFEW-VA: one folder per clip holding ``<clip>.json`` (``{actor, video_id, frames:
    {"00000": {valence, arousal, landmarks: 68 x [x, y]}}}``, labels on -10..10) and the frame
    images. ``root`` is either one clip folder or a folder of clips. AFEW clips run at 25 fps.
    """
    root = pathlib.Path(root)
    candidates = [root] if (root / f"{root.name}.json").exists() else sorted(p for p in root.iterdir() if p.is_dir())
    recordings = [recording_or_error(lambda: _afew_clip(clip), clip.name, clip.name, "train")
                  for clip in candidates]
    if not recordings:
        raise LayoutError(f"{root}: no AFEW-VA clip folders")
    return recordings


def _afew_clip(clip: pathlib.Path) -> Recording:
    path = clip / f"{clip.name}.json"
    if not path.exists():
        raise LayoutError(f"{path}: missing (AFEW-VA clip folders hold <clip>.json)")
    try:
        data = json.loads(path.read_text())
        keys = sorted(data["frames"], key=int)
        frames = [data["frames"][k] for k in keys]
        values = np.array([[f["valence"], f["arousal"]] for f in frames], np.float32)
        landmarks = np.array([f["landmarks"] for f in frames], np.float32)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise LayoutError(f"{path}: not an AFEW-VA annotation ({type(err).__name__}: {err})") from err
    if landmarks.shape[1:] != (68, 2):
        raise LayoutError(f"{path}: landmarks have shape {landmarks.shape[1:]}, expected (68, 2)")
    images = []
    for key in keys:
        found = [clip / f"{key}{ext}" for ext in IMAGE_EXTENSIONS if (clip / f"{key}{ext}").exists()]
        if not found:
            raise LayoutError(f"{path}: frame {key} has no image {clip / key}.png|.jpg")
        images.append(str(found[0]))
    valence, v_mask = mask_and_clip(values[:, 0] / 10.0, path)
    arousal, a_mask = mask_and_clip(values[:, 1] / 10.0, path)
    return Recording(
        id=str(data.get("video_id", clip.name)), video=None, audio=None,
        subject=str(data.get("actor", clip.name)), split="train", fps=25.0,
        valence=valence, arousal=arousal, label_mask=np.stack([v_mask, a_mask], -1),
        label_scale="afew_va:-10..10", frames=tuple(images), landmarks=landmarks, labels=str(path),
    )
