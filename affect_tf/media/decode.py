"""Streaming decode with PyAV: video frames with timestamps, audio as mono float32 blocks.

Nothing here holds more than one video frame or one audio block. Times are seconds from the
first video frame (each frame's own presentation time, so variable frame rates keep their
timing); audio is shifted (dropped or zero-padded at the start) so that sample 0 is heard at
video time 0. Frames come out as a player shows them: the container's display matrix (a phone
video stored sideways, a mirrored selfie clip) is applied.
"""
from __future__ import annotations

import os
from typing import Iterator

import av
import numpy as np


class MediaError(ValueError):
    """A media file cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _open(path):
    if not os.path.isfile(path):
        raise MediaError(path, "no such file")
    try:
        return av.open(str(path))
    except av.FFmpegError as err:
        raise MediaError(path, f"not a readable media file ({err})") from err


def _frame_time(frame, index: int, rate: float) -> float:
    return float(frame.time) if frame.time is not None else index / rate


def _video_stream(container, path):
    """The first video stream and its average frame rate (25 when the file does not say)."""
    if not container.streams.video:
        raise MediaError(path, "no video stream (audio only? give it in the audio column)")
    stream = container.streams.video[0]
    return stream, float(stream.average_rate or stream.guessed_rate or 25)


def upright(frame) -> np.ndarray:
    """A decoded frame as RGB uint8 as a player shows it: turned and mirrored by its display
    matrix (a phone video stored sideways, a mirrored front-camera clip)."""
    image = frame.to_ndarray(format="rgb24")
    try:
        side_data = frame.side_data.get("DISPLAYMATRIX")
    except ValueError:  # side data of a type PyAV does not know (e.g. a JPEG's EXIF): no turn
        return image
    if side_data is None:
        return image
    # FFmpeg's 3x3 matrix maps stored to shown (x, y) in 16.16 fixed point; its 2x2 part is a
    # rotation by a multiple of 90 degrees, possibly after a mirror (negative determinant)
    m = np.frombuffer(bytes(side_data), np.int32)[[0, 1, 3, 4]].reshape(2, 2) / 65536.0
    mirrored = np.linalg.det(m) < 0
    if mirrored:  # m = rotation . horizontal mirror (the mirror is its own inverse)
        m = m @ np.diag([-1.0, 1.0])
    turns = int(round(-np.degrees(np.arctan2(m[0, 1], m[0, 0])) / 90)) % 4  # counter-clockwise
    if turns:
        image = np.rot90(image, turns)
    if mirrored:
        image = image[:, ::-1]
    return np.ascontiguousarray(image) if turns or mirrored else image


def iter_video_frames(path) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, timestamp, rgb uint8 (H, W, 3))`` for every decoded video frame, upright."""
    container = _open(path)
    try:
        stream, rate = _video_stream(container, path)
        count = 0
        try:
            for item in timed_frames(container.decode(stream), rate):
                yield item
                count += 1
        except av.FFmpegError as err:
            if count == 0:
                raise MediaError(path, f"video cannot be decoded ({err})") from err
            # A truncated tail: the frames decoded so far are kept, the rest is lost.
        if count == 0:
            raise MediaError(path, "no decodable video frames (truncated or corrupt)")
    finally:
        container.close()


def timed_frames(decoded, rate: float) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(index, seconds from the first frame, upright rgb uint8)`` for decoded video frames."""
    start = None
    for index, frame in enumerate(decoded):
        t = _frame_time(frame, index, rate)
        start = t if start is None else start
        yield index, t - start, upright(frame)


def stream_start(stream) -> float:
    """A stream's first timestamp in seconds (0 when the container does not say)."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def has_video_stream(path) -> bool:
    """Whether the file has a video stream (False: speech only, e.g. wav/flac/mp3)."""
    container = _open(path)
    try:
        return bool(container.streams.video)
    finally:
        container.close()


def video_info(path) -> dict:
    """Frame rate (average), first video timestamp, audio stream or not, frame count (0 = unknown)."""
    container = _open(path)
    try:
        stream, rate = _video_stream(container, path)
        return {"fps": rate, "video_start": stream_start(stream), "has_audio": bool(container.streams.audio),
                "frames": int(stream.frames or 0)}
    finally:
        container.close()


def iter_audio_blocks(path, sample_rate: int, start_time: float = 0.0,
                      block_samples: int = 1 << 16) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks resampled to ``sample_rate``, sample 0 at ``start_time`` (s) of
    the file's clock. Yields nothing when the file has no audio stream."""
    container = _open(path)
    try:
        if container.streams.audio:
            yield from audio_blocks(container.decode(container.streams.audio[0]), path, sample_rate,
                                    start_time, block_samples)
    finally:
        container.close()


def audio_blocks(decoded, path, sample_rate: int, start_time: float = 0.0,
                 block_samples: int = 1 << 16) -> Iterator[np.ndarray]:
    """Decoded audio frames -> mono float32 blocks at ``sample_rate``, sample 0 at ``start_time``
    (s) of the stream's clock (what :func:`iter_audio_blocks` yields for a file)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    to_skip = None  # samples to drop (>0) or zeros to prepend (<0)
    pending = []
    size = 0

    def chunks(decoded):
        for frame in decoded:
            for out in resampler.resample(frame):
                yield out

    def flushed():
        yield from resampler.resample(None)

    try:
        for out in _chain(chunks(decoded), flushed()):
            samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            _require_finite(samples, path, out.time, sample_rate)
            if to_skip is None:
                first = float(out.time) if out.time is not None else start_time
                to_skip = int(round((start_time - first) * sample_rate))
                if to_skip < 0:
                    samples = np.concatenate([np.zeros(-to_skip, np.float32), samples])
                    to_skip = 0
            if to_skip > 0:
                drop = min(to_skip, len(samples))
                samples, to_skip = samples[drop:], to_skip - drop
            pending.append(samples)
            size += len(samples)
            if size >= block_samples:
                yield np.concatenate(pending)
                pending, size = [], 0
    except av.FFmpegError:
        pass  # truncated audio: keep what was decoded
    if size:
        yield np.concatenate(pending)


def _require_finite(samples, path, time, sample_rate) -> None:
    """NaN or infinite samples (a float wav can hold them) would poison every feature computed
    over them: the file is refused, naming the time of the first one."""
    finite = np.isfinite(samples)
    if not finite.all():
        at = (time or 0.0) + int(np.argmin(finite)) / sample_rate
        raise MediaError(path, f"audio holds NaN or infinite samples (the first at {at:.2f} s)")


def _chain(*iterables):
    for it in iterables:
        yield from it


def read_audio(path, sample_rate: int, start_time: float = 0.0) -> np.ndarray:
    """The whole audio track as one array (tests and short files only)."""
    blocks = list(iter_audio_blocks(path, sample_rate, start_time))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
