"""``affect-tf serve`` and ``affect-tf predict`` (registered through the ``affect_tf.commands``
entry points in setup.py, so ``affect_tf`` never imports this package)."""
from __future__ import annotations

import argparse
import logging
import pathlib
import sys

from affect_tf import features as F


def parse_model_args(values) -> dict:
    """``NAME=BASE_DIR`` strings (or a bare BASE_DIR, named after its folder) -> dict."""
    models = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = pathlib.Path(value).name, value
        if not pathlib.Path(path).is_dir():
            raise ValueError(f"{path}: model base directory does not exist")
        models[name] = path
    return models


def register_serve(parser: argparse.ArgumentParser) -> None:
    """``affect-tf serve NAME=BASE_DIR ...``: the local TF Serving API server (gRPC, REST)."""
    from affect_tf.serving.server import DEFAULT_MAX_REQUEST_BYTES

    parser.add_argument("models", nargs="+", help="NAME=BASE_DIR (TF Serving layout: BASE_DIR/<version>/)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (TF Serving's default 8500)")
    parser.add_argument("--rest-port", type=int, default=None, help="REST port (TF Serving uses 8501)")
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--max-request-mb", type=float, default=DEFAULT_MAX_REQUEST_BYTES / 2**20)
    parser.set_defaults(func=serve)


def serve(args) -> int:
    from affect_tf.serving.server import LocalModelServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = LocalModelServer(parse_model_args(args.models), args.host, args.port, args.rest_port,
                              args.poll_seconds, int(args.max_request_mb * 2**20))
    server.start()
    print(f"serving {sorted(server.repository.base_dirs)} on grpc {server.target}"
          + (f", rest {args.host}:{server.rest_port}" if server.rest_port else ""), flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


def register_predict(parser: argparse.ArgumentParser) -> None:
    """``affect-tf predict VIDEO (--server HOST:PORT | --model DIR) [--out DIR]``: valence/arousal
    per frame of a video or audio file (CSV, JSON and PNG plot)."""
    parser.add_argument("video", help="video file (its audio track is used when present), or an "
                        "audio-only file (speech only: a 25 fps frame grid, audio presets)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", help="HOST:PORT of a TF Serving gRPC endpoint")
    where.add_argument("--model", help="exported model: a version folder or a base folder")
    parser.add_argument("--out", default="predictions",
                        help="output folder for the CSV, JSON and PNG (default ./predictions)")
    parser.add_argument("--model-name", default=F.MODEL_NAME, help="served model name (with --server)")
    parser.add_argument("--version", type=int, default=None, help="served version (default newest)")
    parser.add_argument("--chunk-frames", type=int, default=80)
    parser.add_argument("--context-frames", type=int, default=16)
    parser.add_argument("--median-window", type=int, default=None,
                        help="median filter frames (default: the export metadata's, else off)")
    parser.add_argument("--overlay", default=None, metavar="OUT.mp4",
                        help="also write the video with the face box and a valence/arousal gauge "
                        "drawn on every frame, its audio kept")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(func=predict)


def predict(args) -> int:
    from affect_tf.inference import load_model
    from affect_tf.serving.predict import check_output_dir, predict_video

    check_output_dir(args.out, args.video)  # before the model loads and the video is decoded
    model = load_model(args.server or args.model, args.model_name, args.version)  # says if synthetic
    summary = predict_video(args.video, args.out, model, args.chunk_frames, args.context_frames,
                            args.median_window, progress=None if args.quiet else sys.stderr,
                            overlay=args.overlay)
    print(f"{summary['n_frames']} frames ({summary['frames_with_face']} with a face): "
          + ", ".join(summary["outputs"].values()))
    return 0
