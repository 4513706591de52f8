"""Valence and arousal as a stream comes in: the library behind ``affect-tf live`` (``docs/live.md``).

:func:`run_live` reads a live source (:mod:`affect_tf.media.live_source`), runs every frame
through :class:`~affect_tf.media.FacePipeline` (its face tracker and audio feature buffers carry
over from frame to frame) and sends chunks of ``chunk_frames`` frames to the export's
``serving_stream`` signature, in this process or through TF Serving's stateless Predict, with
the recurrent state held here (:class:`StreamingPredictor`): chunks of any size give the values
one call over the whole recording gives, which is what ``predict`` computes for a file read as
one chunk. Rows go out as they are ready (:class:`RowWriter`), one per frame.

* The export's centred median filter (``004`` §6.3) runs with a fixed lag of (window - 1) / 2
  frames (:class:`LaggedMedian`): a frame's smoothed value goes out when the frames it needs have
  come, or when the run of frames the model can see ends, and then equals ``predict``'s.
* State policy: frames without the modality the model reads (no face for a face model) are sent
  masked, as ``predict`` sends them; once such a run lasts ``reset_after_s`` the recurrent state
  starts again from zeros (whoever comes back into view is not read through stale state), and
  after a reconnect the state, the face track and the audio buffers all start again.
* A network stream or a device that stalls (no packet for ``read_timeout`` s) or drops is
  reopened with exponential backoff for up to ``reconnect_s``; the first frame after the gap
  carries ``gap_s`` (the seconds between the last frame's arrival and its own), and ``time_s``
  goes on by that much.
* Ctrl-C (``KeyboardInterrupt``), SIGTERM (the command turns it into one) or ``stop`` end the run
  after the frames already decoded are predicted and every row is written.
"""
from __future__ import annotations

import collections
import csv
import json
import math
import sys
import threading
import time

import numpy as np

from affect_tf import export as export_lib
from affect_tf import features as F
from affect_tf.inference import AffectModel, batch_inputs

ROW_FIELDS = ("time_s", "frame", "face_x0", "face_y0", "face_x1", "face_y1", "face_present",
              "audio_present", "valence", "arousal", "valence_raw", "arousal_raw", "latency_ms",
              "gap_s")
FORMATS = ("jsonl", "csv")


class StreamingPredictor:
    """An exported model's ``serving_stream`` with the recurrent state kept here, between calls."""

    def __init__(self, model: AffectModel):
        shapes = getattr(model.backend, "state_shapes", None)
        if shapes is None:
            raise ValueError(f"{model.description}: the export has no {export_lib.STREAM_SIGNATURE!r} "
                             "signature, so it cannot carry its state across chunks (its preset looks "
                             "ahead or was exported before issue 26); export a causal preset such as "
                             "the CNN-RNN family (docs/live.md)")
        self.model = model
        self.state_shapes = shapes
        self.reset()

    def reset(self):
        """Start again from the zero state (what one offline call starts from)."""
        self.states = {name: np.zeros((1, *shape), np.float32) for name, shape in self.state_shapes.items()}

    def warm_up(self, crop_size: int):
        """One call on a blank frame, so the first real frame does not wait for graph set-up."""
        shapes = F.feature_shapes(crop_size)
        blank = {name: np.zeros((1, 1, *shapes[name]), np.uint8 if name == F.FACE else np.float32)
                 for name in self.model.input_names}
        self.model.backend({**blank, **self.states}, signature=export_lib.STREAM_SIGNATURE)

    def __call__(self, items) -> np.ndarray:
        """(T, 2) raw valence and arousal of a chunk of :class:`FrameItem` s; the state moves on."""
        inputs = batch_inputs([items], self.model.input_names)
        out = self.model.backend({**inputs, **self.states}, signature=export_lib.STREAM_SIGNATURE)
        self.states = {name: np.asarray(out[name], np.float32) for name in self.states}
        return np.stack([np.asarray(out["valence"])[0], np.asarray(out["arousal"])[0]], -1).astype(np.float64)


class LaggedMedian:
    """The centred median filter of :func:`affect_tf.postprocess.median_filter` (ends repeat the
    first and last values), per dimension, over each run of frames the model can see, computed
    as frames come: a frame is released once ``max(windows) // 2`` later frames of its run have
    come, or when its run ends. Keeps no more than a window of values."""

    def __init__(self, windows=(1, 1)):
        self.windows = tuple(int(w) for w in windows)
        if any(w < 1 or w % 2 == 0 for w in self.windows):
            raise ValueError(f"median windows must be positive odd numbers, got {self.windows}")
        self.lag = max(self.windows) // 2
        self._values = []  # raw values of the current run from index self._first
        self._first = 0
        self._rows = collections.deque()  # rows of the run not yet released, oldest first
        self._released = 0  # index in the run of the next row to release

    def push(self, row: dict, raw=None) -> list:
        """Add a frame (``raw`` None: the model could not see it); returns the rows now final."""
        if raw is None:
            done = self.end_run()
            row.update(valence=None, arousal=None)
            return done + [row]
        self._values.append(np.asarray(raw, np.float64))
        self._rows.append(row)
        done = []
        run_length = self._first + len(self._values)
        while self._rows and self._released + self.lag < run_length:
            done.append(self._release(run_length))
        return done

    def end_run(self) -> list:
        """Release every waiting row (the run of visible frames ended)."""
        run_length = self._first + len(self._values)
        done = [self._release(run_length, ended=True) for _ in range(len(self._rows))]
        self._values, self._first, self._released = [], 0, 0
        return done

    def _release(self, run_length, ended=False) -> dict:
        i = self._released
        row = self._rows.popleft()
        smooth = []
        for dim, window in enumerate(self.windows):
            half = window // 2
            picks = np.clip(np.arange(i - half, i + half + 1), 0, run_length - 1)
            smooth.append(float(np.median([self._values[p - self._first][dim] for p in picks])))
        row["valence"], row["arousal"] = (float(np.clip(v, -1.0, 1.0)) for v in smooth)
        self._released += 1
        keep_from = max(0, self._released - self.lag - 1) if not ended else self._first
        if keep_from > self._first:  # values no later frame's window reaches
            self._values = self._values[keep_from - self._first:]
            self._first = keep_from
        return row


class RowWriter:
    """Rows as JSON lines or CSV (``ROW_FIELDS``), flushed one by one; also handed to
    ``listeners`` (the ``--http`` page)."""

    def __init__(self, out, fmt: str = "jsonl", listeners=()):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        self.out, self.fmt, self.listeners = out, fmt, list(listeners)
        self.count = 0
        self._csv = None
        if fmt == "csv":
            self._csv = csv.DictWriter(out, ROW_FIELDS, lineterminator="\n", extrasaction="ignore")
            self._csv.writeheader()

    def write(self, row: dict):
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        if self._csv is not None:
            self._csv.writerow({k: ("" if v is None else v) for k, v in row.items()})
        else:
            self.out.write(json.dumps({k: row.get(k) for k in ROW_FIELDS}) + "\n")
        self.out.flush()
        self.count += 1
        for listener in self.listeners:
            listener(row)


def live_media_config(config):
    """The model's media config with openSMILE and the STFT run on short blocks, so the audio
    features of a frame need about 2 s of sound after it rather than 21 s (same values)."""
    return config.replace(egemaps_block_s=min(config.egemaps_block_s, 0.5),
                          audio_block_s=min(config.audio_block_s, 0.25))


def run_live(source, model: AffectModel, out=sys.stdout, fmt: str = "jsonl", chunk_frames: int = 1,
             realtime: bool = False, reconnect_s: float = 30.0, read_timeout: float = 5.0,
             open_timeout: float = 10.0, reset_after_s: float = 2.0, median_window=None,
             media_config=None, listeners=(), stop: threading.Event | None = None,
             progress=sys.stderr, max_frames: int | None = None, audio_source=None) -> dict:
    """Stream ``source`` through ``model`` and write one row per frame to ``out`` (module
    docstring); returns a summary. ``listeners`` get each row (and frames, see
    :class:`affect_tf.live_page.LivePage`) as it is written. ``audio_source``: the sound comes from
    there (a capture input such as ``alsa:hw:0``, a stream or a file) instead of ``source``; it
    is reopened with ``source``."""
    from affect_tf.media import FacePipeline
    from affect_tf.media import live_source

    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    predictor = StreamingPredictor(model)
    config = live_media_config(model.media_config(media_config))
    predictor.warm_up(config.crop_size)
    kind = live_source.source_kind(source)
    container = live_source.open_source(source, open_timeout, read_timeout)
    if audio_source is not None and not model.needs_audio:
        if progress is not None:
            print(f"affect-tf live: {model.description} reads no sound; --audio {audio_source} is not used",
                  file=progress, flush=True)
        audio_source = None
    pipeline = FacePipeline(config)
    pipeline.tracker.warm_up()
    median = LaggedMedian(model.median_windows(median_window))
    writer = RowWriter(out, fmt, [l for l in listeners if callable(l)])
    frame_listeners = [l.frame for l in listeners if hasattr(l, "frame")]
    stop = stop or threading.Event()
    started = time.monotonic()
    summary = {"source": str(source), "model": model.description, "frames": 0, "reconnects": 0,
               "interrupted": False, "median_lag_frames": median.lag}
    number = 0  # frame number over the whole run (segments continue it)
    last_frame_at = None
    pending = []  # (item, row) decoded, not yet predicted
    unseen = {"since": None, "reset": False}

    def predict_pending():
        batch = []
        for item, row in pending:
            batch.append((item, row))
            seen = bool(model.has_input(item.face_present, item.audio_present))
            if seen:
                unseen.update(since=None, reset=False)
            else:
                unseen["since"] = item.timestamp if unseen["since"] is None else unseen["since"]
                if not unseen["reset"] and item.timestamp - unseen["since"] >= reset_after_s:
                    predict(batch)  # the state policy: drop stale state after a long gap
                    predictor.reset()
                    unseen["reset"], batch = True, []
        predict(batch)
        pending.clear()

    def predict(batch):
        if not batch:
            return
        raw = predictor([item for item, _ in batch])
        for (item, row), value in zip(batch, raw):
            seen = bool(model.has_input(item.face_present, item.audio_present))
            row.update(valence_raw=float(value[0]) if seen else None,
                       arousal_raw=float(value[1]) if seen else None)
            emit(median.push(row, value if seen else None))

    def emit(rows):
        for row in rows:
            row["latency_ms"] = round((time.monotonic() - row.pop("_captured")) * 1000, 1)
            writer.write(row)

    segment_offset, reopened, last_time_s = 0.0, False, 0.0
    sound = None
    try:
        while True:
            demux = live_source.Demuxer(container, source, with_audio=model.needs_audio and audio_source is None)
            sound = demux if audio_source is None else live_source.SoundSource(
                live_source.open_source(audio_source, open_timeout, read_timeout, need="audio"), audio_source)
            paced = realtime and kind in ("file", "stdin")
            captured = {}

            def frames():
                for index, t, image in demux.video_frames(paced):
                    # a paced file's frame is captured when it is due, a camera's when its packet
                    # came off the stream (it may wait in the queue while audio is read ahead)
                    captured[index] = (demux.paced_from + t if paced else demux.frame_arrived, image)
                    yield index, t, image

            items = pipeline.process_stream(frames(), demux.rate, sound.audio_blocks(config.sample_rate),
                                            str(source), egemaps=F.EGEMAPS in model.input_names)
            for item in items:
                at, image = captured.pop(item.index)
                gap = None
                if reopened:  # the seconds without frames; the clock goes on over them
                    gap, reopened = round(at - last_frame_at, 3), False
                    segment_offset = last_time_s + gap - item.timestamp
                face = item.face_present
                box = [round(float(v), 1) for v in item.face_box] if face else [None] * 4
                row = {"time_s": round(segment_offset + item.timestamp, 4), "frame": number,
                       "face_x0": box[0], "face_y0": box[1], "face_x1": box[2], "face_y1": box[3],
                       "face_present": int(face), "audio_present": int(item.audio_present),
                       "gap_s": gap, "_captured": at}
                last_frame_at, last_time_s, number = at, row["time_s"], number + 1
                for listener in frame_listeners:
                    listener(row, image)
                pending.append((item, row))
                if len(pending) >= chunk_frames:
                    predict_pending()
                if stop.is_set() or (max_frames and number >= max_frames):
                    raise _Stopped
            predict_pending()
            emit(median.end_run())
            demux.close()
            if sound is not demux:
                sound.close()
            container = sound = None
            if kind not in live_source.LIVE_KINDS:
                break
            container = _reopen(source, reconnect_s, open_timeout, read_timeout, stop, progress,
                                demux.error)
            if container is None:
                break
            summary["reconnects"] += 1
            predictor.reset()
            unseen.update(since=None, reset=False)
            reopened = last_frame_at is not None
    except (KeyboardInterrupt, _Stopped) as why:
        summary["interrupted"] = isinstance(why, KeyboardInterrupt) or stop.is_set()
        predict_pending()
        emit(median.end_run())
    finally:
        if container is not None:
            container.close()
        if isinstance(sound, live_source.SoundSource):
            sound.close()
    summary["frames"] = writer.count
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary


class _Stopped(Exception):
    """``stop`` was set or ``max_frames`` reached."""


def _reopen(source, budget_s, open_timeout, read_timeout, stop, progress, error):
    """The reopened source, trying with exponential backoff for ``budget_s``; None when it does
    not come back (or ``stop``)."""
    from affect_tf.media import live_source
    from affect_tf.media.decode import MediaError

    why = "stalled or dropped" if error is not None else "ended"
    deadline, delay, attempt = time.monotonic() + budget_s, 0.25, 0
    while not stop.is_set() and time.monotonic() < deadline:
        attempt += 1
        if progress is not None:
            print(f"affect-tf live: {source}: stream {why}; reopening (attempt {attempt})",
                  file=progress, flush=True)
        try:
            return live_source.open_source(source, min(open_timeout, max(0.5, deadline - time.monotonic())),
                                           read_timeout)
        except MediaError:
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(2 * delay, 5.0)
    return None
