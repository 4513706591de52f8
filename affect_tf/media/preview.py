"""``affect-tf preview VIDEO --out SHEET.png``: a contact sheet of aligned crops with landmarks.

People look at this before trusting a dataset: every tile is one aligned face crop (evenly spaced
through the video) with its 68 crop-space landmarks in green and the 5 template points in red;
frames without a face are dark grey with a red cross. Under each crop the whole frame is drawn
small with the followed face boxed (yellow: 68-point fit, orange: aligned on the detector's five
points), so one sees who the tracker follows (``target_face``); the caption gives the frame, its
time and the detection confidence. Writes the PNG atomically.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

from affect_tf.files import atomic_path
from affect_tf.media.config import MediaConfig
from affect_tf.media.template import frontal_template

TILE_SCALE = 2  # crops are drawn at 2x so the landmarks are visible


def contact_sheet(items, crop_size: int, columns: int = 8, frames: dict | None = None) -> Image.Image:
    """Tiles of the given :class:`FrameItem` s (crop, landmarks, frame index) as one image;
    ``frames`` (index -> RGB frame), when given, adds each whole frame with the face boxed."""
    tile = crop_size * TILE_SCALE
    context = 0
    if frames:
        h, w = next(iter(frames.values())).shape[:2]
        context = int(round(tile * h / w))
    rows = max(1, -(-len(items) // columns))
    row_height = tile + context + 14
    sheet = Image.new("RGB", (columns * tile, rows * row_height), (255, 255, 255))
    template = frontal_template(crop_size) * TILE_SCALE
    draw = ImageDraw.Draw(sheet)
    for n, item in enumerate(items):
        x0, y0 = (n % columns) * tile, (n // columns) * row_height
        frame = (frames or {}).get(item.index)
        if frame is not None:
            scale = tile / frame.shape[1]
            sheet.paste(Image.fromarray(frame).resize((tile, context), Image.BILINEAR), (x0, y0 + tile))
            if item.face_present:
                (bx0, by0), (bx1, by1) = item.landmarks_image.min(0) * scale, item.landmarks_image.max(0) * scale
                colour = (255, 255, 0) if item.landmarks_fitted else (255, 140, 0)
                draw.rectangle([x0 + bx0, y0 + tile + by0, x0 + bx1, y0 + tile + by1], outline=colour, width=2)
        if item.face_present:
            sheet.paste(Image.fromarray(item.face).resize((tile, tile), Image.BILINEAR), (x0, y0))
            points = (item.landmarks_crop + 1) / 2 * (crop_size - 1) * TILE_SCALE
            for x, y in points:
                draw.ellipse([x0 + x - 1.5, y0 + y - 1.5, x0 + x + 1.5, y0 + y + 1.5], fill=(0, 255, 0))
            for x, y in template:
                draw.ellipse([x0 + x - 2.5, y0 + y - 2.5, x0 + x + 2.5, y0 + y + 2.5], outline=(255, 0, 0))
        else:
            draw.rectangle([x0, y0, x0 + tile - 1, y0 + tile - 1], fill=(60, 60, 60))
            draw.line([x0, y0, x0 + tile, y0 + tile], fill=(255, 0, 0), width=2)
            draw.line([x0 + tile, y0, x0, y0 + tile], fill=(255, 0, 0), width=2)
        draw.text((x0 + 2, y0 + tile + context + 1),
                  f"#{item.index} {item.timestamp:.2f}s c={item.face_confidence:.2f}", fill=(0, 0, 0))
    return sheet


def write_preview(video_path, out_path, frames: int = 24, config: MediaConfig | None = None,
                  pipeline=None) -> list:
    """Process ``video_path`` and write a sheet of ``frames`` evenly spaced frames (a still
    image: one tile per face). Returns the chosen items."""
    from affect_tf.media.pipeline import FacePipeline, is_image, read_image

    config = config or MediaConfig()
    pipeline = pipeline or FacePipeline(config)
    if is_image(video_path):
        chosen = pipeline.process_photo(video_path)
        sheet = contact_sheet(chosen, config.crop_size, columns=min(8, len(chosen)),
                              frames={0: read_image(video_path)})
    else:
        chosen, sheet = _video_sheet(video_path, frames, config, pipeline)
    with atomic_path(out_path) as tmp:
        sheet.save(tmp, format="PNG")
    return chosen


def _video_sheet(video_path, frames, config, pipeline):
    from affect_tf.media import decode

    info = decode.video_info(os.fspath(video_path))
    total = info.get("frames") or 0
    if total > 0:
        wanted = set(np.linspace(0, total - 1, min(frames, total)).round().astype(int).tolist())
        chosen = [item for item in pipeline.process_video(video_path) if item.index in wanted]
    else:  # frame count unknown: keep every stride-th item, doubling the stride (bounded memory)
        stride, chosen = 1, []
        for item in pipeline.process_video(video_path):
            if item.index % stride == 0:
                chosen.append(item)
            if len(chosen) >= 2 * frames:
                stride *= 2
                chosen = [c for c in chosen if c.index % stride == 0]
        chosen = chosen[:: max(1, len(chosen) // frames)][:frames]
    indices = {item.index for item in chosen}
    thumbnails = {i: image for i, _, image in decode.iter_video_frames(os.fspath(video_path)) if i in indices}
    return chosen, contact_sheet(chosen, config.crop_size, frames=thumbnails)

