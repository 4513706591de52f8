"""Live sources of ``affect-tf live`` (``docs/live.md``): a file (paced at its frame rate with
``realtime``), ``-`` (a stream on stdin), a network stream (``rtsp://``, ``udp://``, ``http://``,
HLS: anything FFmpeg opens) or a capture device (``/dev/video0``, FFmpeg's v4l2 input), opened
with PyAV.

A network stream can be read only once, so :class:`Demuxer` reads the container's packets once
for both its video and its audio: decoded frames of one kind wait in a queue while the audio
features pull sound ahead of the frame (the mel window reaches 1.5 s past it). The queues are
bounded (``max_queued_s``); a stream whose sound stops while its picture goes on loses its audio
features, not its memory. Frame times are seconds from the stream's first frame and audio is
aligned to the video's clock exactly as :mod:`affect_tf.media.decode` does it for a file, so a
file read here gives the frames and features that ``predict`` computes.
"""
from __future__ import annotations

import collections
import os
import re
import sys
import time
from typing import Iterator

import av

from affect_tf.media import decode
from affect_tf.media.decode import MediaError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
LIVE_KINDS = ("network", "device")  # sources that are reopened when they stall or drop
SOUND_DEVICES = ("alsa", "pulse", "oss", "jack")  # FFmpeg's capture inputs: ``alsa:hw:0``, ``pulse:default``


def source_kind(source: str) -> str:
    """``stdin`` (``-``), ``network`` (a URL), ``device`` (``/dev/...``, or a sound capture input
    such as ``alsa:hw:0``) or ``file``."""
    source = str(source)
    if source == "-":
        return "stdin"
    if _URL.match(source):
        return "network"
    if source.startswith("/dev/") or source.split(":", 1)[0] in SOUND_DEVICES:
        return "device"
    return "file"


def open_source(source: str, open_timeout: float = 10.0, read_timeout: float = 5.0, need: str = "video"):
    """The opened PyAV container of ``source``; :class:`MediaError` naming it when it cannot be
    opened or has no ``need`` stream (``video``, or ``audio`` for ``--audio``). A network or
    device read that waits longer than ``read_timeout`` raises (a stall), which
    :func:`affect_tf.live.run_live` answers by reopening."""
    kind = source_kind(source)
    try:
        if kind == "stdin":
            container = av.open(sys.stdin.buffer, mode="r")
        elif kind == "file":
            if not os.path.isfile(source):
                raise MediaError(source, "no such file (nor a URL, a capture device or -)")
            container = av.open(source)
        else:
            device_format, name = source.split(":", 1) if kind == "device" and ":" in source else (None, source)
            if kind == "device" and device_format is None:
                device_format = "v4l2"
            container = av.open(name, format=device_format, timeout=(open_timeout, read_timeout))
    except (av.FFmpegError, OSError) as err:
        raise MediaError(source, f"cannot be opened ({' '.join(str(err).split())})") from None
    if not getattr(container.streams, need):
        container.close()
        raise MediaError(source, f"no {need} stream")
    return container


class Demuxer:
    """One opened container read once: :meth:`video_frames` and :meth:`audio_blocks` each pull
    packets as they need them. Reading stops at the end of the stream or at a read error (a
    stall, a dropped connection: kept in ``error``)."""

    def __init__(self, container, source: str, with_audio: bool = True, max_queued_s: float = 10.0):
        self.container, self.source = container, str(source)
        self.video = container.streams.video[0]
        self.rate = float(self.video.average_rate or self.video.guessed_rate or 25)
        audio = container.streams.audio
        self.audio = audio[0] if with_audio and audio else None
        self.error = None
        self._packets = container.demux([s for s in (self.video, self.audio) if s is not None])
        self._max_frames = int(max_queued_s * self.rate)
        self._video = collections.deque()
        self._audio = collections.deque(maxlen=int(max_queued_s * 100))  # audio frames: ~10-50 ms each
        self._ended = False
        self.paced_from = None
        self._read_timeout = getattr(container, "read_timeout", None)  # None: a file, no timeout
        self._stalled_at = None
        self.frame_arrived = None  # time.monotonic() when the frame last yielded was read off the stream

    def _read(self) -> bool:
        """Decode one more packet into its queue; False at the end or on a read error."""
        if self._ended:
            return False
        started = time.monotonic()
        try:
            packet = next(self._packets, None)
        except (av.FFmpegError, OSError) as err:
            self.error, packet = err, None
        if self._stalled_at is None and self._read_timeout and time.monotonic() - started >= self._read_timeout:
            # the read timed out: what the demuxer still hands back (the packets it held until the
            # next one began) came in before the stall
            self._stalled_at = started
        if packet is None:
            self._ended = True
            return False
        try:
            frames = packet.decode()
        except av.FFmpegError:  # a damaged packet (a lost datagram): the decoder resyncs
            return True
        if packet.stream.index == self.video.index:
            arrived = time.monotonic() if self._stalled_at is None else self._stalled_at
            self._video.extend((frame, arrived) for frame in frames)
        else:
            self._audio.extend(frames)
        return True

    def _video_frames(self):
        while True:
            while not self._video:
                if not self._read():
                    return
            frame, self.frame_arrived = self._video.popleft()
            yield frame

    def _audio_frames(self):
        while True:
            while not self._audio:
                if len(self._video) > self._max_frames or not self._read():
                    return  # sound stopped while the picture goes on: no more audio features
            yield self._audio.popleft()

    def video_frames(self, realtime: bool = False) -> Iterator[tuple[int, float, object]]:
        """``(index, seconds from the first frame, rgb uint8)``; with ``realtime`` each frame is
        held back until its time has come since the first one (a file played as a camera), and
        ``paced_from`` is the ``time.monotonic()`` of the first: a frame's capture time is
        ``paced_from + t`` even when the reader falls behind."""
        for index, t, image in decode.timed_frames(self._video_frames(), self.rate):
            if realtime:
                self.paced_from = time.monotonic() - t if self.paced_from is None else self.paced_from
                time.sleep(max(0.0, self.paced_from + t - time.monotonic()))
            yield index, t, image

    def audio_blocks(self, sample_rate: int, block_samples: int = 2048) -> Iterator:
        """Mono float32 blocks of the sound at ``sample_rate``, sample 0 at the video's start."""
        if self.audio is None:
            return iter(())
        return decode.audio_blocks(self._audio_frames(), self.source, sample_rate,
                                   decode.stream_start(self.video), block_samples)

    def close(self):
        self.container.close()


class SoundSource:
    """The sound of ``--audio``: its own container (a capture input, a stream or a file), read
    only for its first audio stream. Sample 0 is the file's time 0, as ``predict VIDEO`` aligns a
    separate audio file, or for a device or stream its first sample, taken as the video's start."""

    def __init__(self, container, source: str):
        self.container, self.source = container, str(source)
        self.audio = container.streams.audio[0]
        self.start = 0.0 if source_kind(source) == "file" else decode.stream_start(self.audio)
        self.error = None

    def _frames(self):
        try:
            for packet in self.container.demux(self.audio):
                try:
                    yield from packet.decode()
                except av.FFmpegError:  # a damaged packet: the decoder resyncs
                    continue
        except (av.FFmpegError, OSError) as err:  # a stall or a drop: the sound ends here
            self.error = err

    def audio_blocks(self, sample_rate: int, block_samples: int = 2048) -> Iterator:
        return decode.audio_blocks(self._frames(), self.source, sample_rate, self.start, block_samples)

    def close(self):
        self.container.close()
