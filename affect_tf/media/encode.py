"""Writing video files with PyAV: the synthetic drop, the tests' media and the benchmarks' long
videos all go through :func:`write_video`."""
from __future__ import annotations

import fractions
import itertools
import pathlib

import numpy as np

AUDIO_CHUNK = 1024  # samples per encoded audio frame


def write_video(path, frames, fps=25, *, audio=None, sample_rate: int = 44100, codec: str = "libx264",
                audio_codec: str = "aac", container_format: str | None = None, pix_fmt: str = "yuv420p",
                frame_format: str = "rgb24", options: dict | None = None, pts_ms=None,
                display_rotation: tuple[float, bool, bool] | None = None) -> pathlib.Path:
    """Encode ``frames`` (an iterable of (H, W, 3) uint8 RGB arrays, or (H, W) with
    ``frame_format="gray"``; the size is the first frame's) at ``fps``, and ``audio`` (mono float
    samples on [-1, 1] at ``sample_rate``) when given.

    ``options``: the video codec's options (e.g. x264's ``crf``). ``pts_ms``: one time stamp per
    frame in milliseconds (variable frame timing). ``display_rotation``: ``(degrees, hflip,
    vflip)`` stored as the stream's display matrix, as phones do.
    """
    import av

    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w", format=container_format) as container:
        video = container.add_stream(codec, rate=fps)
        video.height, video.width = first.shape[:2]
        video.pix_fmt = pix_fmt
        if options:
            video.options = dict(options)
        if pts_ms is not None:
            video.time_base = video.codec_context.time_base = fractions.Fraction(1, 1000)
        if display_rotation is not None:
            degrees, hflip, vflip = display_rotation
            video.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        audio_stream = None
        if audio is not None:
            audio_stream = container.add_stream(audio_codec, rate=sample_rate)
            audio_stream.layout = "mono"
        for i, image in enumerate(itertools.chain([first], frames)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=frame_format)
            if pts_ms is not None:
                frame.pts, frame.time_base = int(pts_ms[i]), fractions.Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio_stream is not None:
            samples = np.asarray(audio, np.float32).reshape(-1)
            for start in range(0, len(samples), AUDIO_CHUNK):
                piece = np.ascontiguousarray(samples[start:start + AUDIO_CHUNK][None, :])
                frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = sample_rate, start
                container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode())
    return pathlib.Path(path)
