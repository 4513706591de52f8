"""``affect-tf preview VIDEO --out SHEET.png``: :func:`affect_tf.media.preview.write_preview`."""
from __future__ import annotations

import argparse

from affect_tf import features as F
from affect_tf.media.config import DETECTORS, TARGET_POLICIES


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="video file")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--frames", type=int, default=24, help="tiles on the sheet (default 24)")
    parser.add_argument("--crop-size", type=int, default=F.DEFAULT_CROP_SIZE, choices=F.CROP_SIZES)
    parser.add_argument("--target-face", default="subject", choices=TARGET_POLICIES,
                        help="face to follow when several are visible (default subject)")
    parser.add_argument("--detector", default="hog+mtcnn", choices=DETECTORS,
                        help="face detector (default hog+mtcnn: MTCNN where HOG finds nothing)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from affect_tf.media.config import MediaConfig
    from affect_tf.media.decode import MediaError
    from affect_tf.media.preview import write_preview

    config = MediaConfig(crop_size=args.crop_size, target_face=args.target_face, detector=args.detector)
    try:
        items = write_preview(args.video, args.out, args.frames, config)
    except MediaError as err:
        print(f"error: {err}")
        return 1
    found = sum(i.face_present for i in items)
    print(f"wrote {args.out}: {len(items)} frames, face in {found}", flush=True)
    return 0
