"""``affect-tf live SOURCE (--model DIR | --server HOST:PORT)``: valence and arousal from a
camera or a network stream as it comes (:func:`affect_tf.live.run_live`, ``docs/live.md``)."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from affect_tf import features as F


def register(parser: argparse.ArgumentParser) -> None:
    """``affect-tf live SOURCE (--model DIR | --server HOST:PORT)``: per-frame valence/arousal of a
    camera, network stream, stdin or paced file, as JSON lines or CSV."""
    from affect_tf.live import FORMATS
    from affect_tf.media.config import TARGET_POLICIES

    parser.add_argument("source", help="a file (with --realtime: paced at its frame rate), - (stdin), "
                        "a URL FFmpeg opens (rtsp://, udp://, http(s):// incl. HLS) or a v4l2 "
                        "device (/dev/video0)")
    parser.add_argument("--audio", default=None, metavar="SOURCE",
                        help="take the sound from here instead of SOURCE: a capture input "
                        "(alsa:hw:0, pulse:default), a URL or a file")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--model", help="exported model: a version folder or a base folder")
    where.add_argument("--server", help="HOST:PORT of a TF Serving gRPC endpoint")
    parser.add_argument("--model-name", default=F.MODEL_NAME, help="served model name (with --server)")
    parser.add_argument("--out", default=None, help="write the rows here instead of stdout")
    parser.add_argument("--format", default="jsonl", choices=FORMATS, help="JSON lines or CSV")
    parser.add_argument("--realtime", action="store_true",
                        help="read a file at its frame rate, as a camera would give it")
    parser.add_argument("--chunk-frames", type=int, default=1,
                        help="frames per model call (more: higher throughput, more latency)")
    parser.add_argument("--median-window", type=int, default=None,
                        help="median filter frames, output (window-1)/2 frames late (default: the "
                        "export metadata's, else off)")
    parser.add_argument("--reconnect-s", type=float, default=30.0,
                        help="how long to keep reopening a stalled or dropped stream")
    parser.add_argument("--read-timeout", type=float, default=5.0,
                        help="seconds without a packet that count as a stall")
    parser.add_argument("--reset-after-s", type=float, default=2.0,
                        help="seconds without a face (or speech, for audio models) after which the "
                        "recurrent state starts again")
    parser.add_argument("--target-face", default="largest", choices=TARGET_POLICIES,
                        help="whose face to follow (default: largest, the camera's user; subject, "
                        "predict's default for edited videos, adds an identity check at every "
                        "detection frame: about 0.2 s each on 2 cores, docs/live.md)")
    parser.add_argument("--http", type=int, default=None, metavar="PORT",
                        help="also serve a live page (frame, face box, gauge, curves) on 127.0.0.1:PORT")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.set_defaults(func=run)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event):
    """SIGINT/SIGTERM set ``stop`` (the run ends after writing what it computed); a second one
    interrupts at once."""
    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args) -> int:
    from affect_tf.inference import load_model
    from affect_tf.live import StreamingPredictor, run_live
    from affect_tf.media import live_source

    if live_source.source_kind(args.source) == "file" and not os.path.isfile(args.source):
        live_source.open_source(args.source)  # its one-line error, before the model loads
    if args.audio is not None and live_source.source_kind(args.audio) == "file":
        live_source.open_source(args.audio, need="audio").close()
    model = load_model(args.server or args.model, args.model_name)
    StreamingPredictor(model)  # refuses a model that cannot stream before the source is opened
    media_config = model.media_config().replace(target_face=args.target_face)
    stop = threading.Event()
    listeners, page = [], None
    if args.http is not None:
        from affect_tf.live_page import LivePage

        page = LivePage(port=args.http).start()
        listeners.append(page)
        print(f"live page on http://127.0.0.1:{page.port}/", file=sys.stderr, flush=True)
    out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout
    try:
        with _stop_on_signals(stop):
            summary = run_live(args.source, model, out, args.format, args.chunk_frames,
                               realtime=args.realtime, reconnect_s=args.reconnect_s,
                               read_timeout=args.read_timeout, reset_after_s=args.reset_after_s,
                               median_window=args.median_window, media_config=media_config,
                               listeners=listeners, stop=stop,
                               max_frames=args.max_frames, audio_source=args.audio, progress=sys.stderr)
    finally:
        if out is not sys.stdout:
            out.close()
        if page is not None:
            page.stop()
    print(f"{summary['frames']} frames in {summary['seconds']:.1f} s, {summary['reconnects']} "
          f"reconnects{' (stopped)' if summary['interrupted'] else ''}"
          + (f"; rows in {args.out}" if args.out else ""), file=sys.stderr)
    return 0
