"""A video with its predictions drawn on it (``affect-tf predict VIDEO --overlay OUT.mp4``): the
face box of each frame and a valence/arousal gauge (valence left to right, arousal bottom to top,
the frame's value a dot, its last second a trail), the audio kept (re-encoded as AAC).
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

from affect_tf import files
from affect_tf.media import decode, encode

BOX_COLOUR = (255, 220, 0)
TRAIL_SECONDS = 1.0
AUDIO_RATE = 44100


def draw_frame(image: np.ndarray, row: dict | None, trail=()) -> np.ndarray:
    """``image`` with ``row``'s face box and gauge; ``trail``: recent (valence, arousal) pairs."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas, "RGBA")
    h, w = image.shape[:2]
    if row is not None and row.get("face_present") and np.isfinite(row.get("face_x0", np.nan)):
        box = [row["face_x0"], row["face_y0"], row["face_x1"], row["face_y1"]]
        draw.rectangle(box, outline=BOX_COLOUR, width=max(2, w // 320))
    radius = max(24, min(h, w) // 8)
    cx, cy = radius + 10, h - radius - 24
    draw.rectangle([cx - radius - 6, cy - radius - 6, cx + radius + 6, cy + radius + 20], fill=(0, 0, 0, 150))
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=(200, 200, 200, 255))
    draw.line([cx - radius, cy, cx + radius, cy], fill=(150, 150, 150, 255))
    draw.line([cx, cy - radius, cx, cy + radius], fill=(150, 150, 150, 255))
    draw.text((cx + radius - 8, cy + 2), "V", fill=(200, 200, 200, 255))
    draw.text((cx + 3, cy - radius), "A", fill=(200, 200, 200, 255))
    points = [(cx + v * radius, cy - a * radius) for v, a in trail if np.isfinite(v) and np.isfinite(a)]
    if len(points) > 1:
        draw.line(points, fill=(120, 200, 255, 200), width=2)
    valence = row.get("valence", np.nan) if row is not None else np.nan
    arousal = row.get("arousal", np.nan) if row is not None else np.nan
    if np.isfinite(valence) and np.isfinite(arousal):
        x, y, dot = cx + valence * radius, cy - arousal * radius, max(4, radius // 8)
        draw.ellipse([x - dot, y - dot, x + dot, y + dot], fill=(255, 80, 80, 255))
        text = f"v {valence:+.2f}  a {arousal:+.2f}"
    else:
        text = "no value"
    draw.text((cx - radius, cy + radius + 6), text, fill=(255, 255, 255, 255))
    return np.asarray(canvas)


def write_overlay(video, frames, out_path) -> str:
    """Write ``video`` with the per-frame table ``frames`` (``affect_tf.inference.COLUMNS``)
    drawn on it to ``out_path`` (MP4, H.264, the source's frame rate; its audio, mono, as AAC)."""
    video = os.fspath(video)
    fps = decode.video_info(video)["fps"]
    rows = {int(r["frame"]): r for r in frames.to_dict("records")}
    trail_length = max(1, int(round(TRAIL_SECONDS * fps)))

    def drawn():
        history = []
        for index, _, image in decode.iter_video_frames(video):
            row = rows.get(index)
            if row is not None:
                history = (history + [(row["valence"], row["arousal"])])[-trail_length:]
            image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]  # yuv420p: even sides
            yield draw_frame(image, row, history)

    blocks = list(decode.iter_audio_blocks(video, AUDIO_RATE))
    with files.atomic_path(out_path) as tmp:
        encode.write_video(tmp, drawn(), int(round(fps)) or 25, container_format="mp4",
                           audio=np.concatenate(blocks) if blocks else None, sample_rate=AUDIO_RATE,
                           options={"crf": "20", "preset": "veryfast"})
    return str(out_path)
