"""Per-video-frame audio features, computed from a stream of audio blocks in bounded memory.

* Mel window (``001_…`` §3.4): librosa's power mel-spectrogram of the whole signal
  (``center=True``, zero padding, ``n_fft``/``hop_length`` from :class:`MediaConfig`), the
  ``mel_frames`` STFT columns centred on the frame's timestamp (column ``round(t * sr / hop)``,
  columns ``c - 64 .. c + 63``), converted to dB (``MediaConfig.mel_reference``):

  - ``"fixed"`` (default): dB against a fixed reference, power 1.0 (a full-scale signal), floor
    ``-top_db`` (-80). ``001`` §3.4 takes dB against the maximum of the whole recording, which a
    stream cannot know before the end; a fixed reference keeps what that one keeps: loudness
    differences within and across recordings, a main arousal cue (the two differ by one offset
    per recording). What is standardised, and with which statistics: each mel band, with the
    training split's mean and deviation (:mod:`affect_tf.data.feature_statistics`, as eGeMAPS).
  - ``"window_max"``: against the maximum of that window (``librosa.power_to_db(ref=np.max,
    top_db=80)``), so every window has max 0 and floor -80 and absolute loudness is gone (the
    behaviour before issue 24).

  Columns past either end of the recording are padded with the floor (-80 dB), and a window of
  digital silence is all floor (librosa would give 0 dB for it under ``window_max``). The STFT columns equal those of
  ``librosa.feature.melspectrogram`` on the whole signal: column ``j`` is computed from the same
  ``n_fft`` samples of the zero-padded signal.
* eGeMAPS (``000_…`` §III-D): openSMILE ``eGeMAPSv02`` low-level descriptors (25 values every
  10 ms) on the same samples, averaged over the LLD frames whose centre lies in the video frame's
  span widened by ``egemaps_context`` frame durations on each side
  (``[t - c*d, t + (1 + c)*d)``, ``d`` = 1 / fps). openSMILE runs on blocks of
  ``egemaps_block_s`` with ``egemaps_margin_s`` of extra audio on each side; blocks start on
  openSMILE's own frame grid, so the LLDs equal one call on the whole signal.
"""
from __future__ import annotations

import functools
from typing import Iterable, Iterator

import numpy as np

from affect_tf.features import EGEMAPS_DIM
from affect_tf.media.config import MediaConfig

EGEMAPS_STEP_S = 0.01
EGEMAPS_FRAME_S = 0.02  # the LLD frame length openSMILE reports for eGeMAPSv02
EGEMAPS_MIN_S = 0.06  # openSMILE fills the LLDs of a shorter signal with NaN (its pitch window)


@functools.lru_cache(maxsize=4)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _smile():
    import opensmile

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
    )


def egemaps_step_samples(sample_rate: int) -> int:
    """openSMILE's frame step in samples (it rounds 10 ms to whole samples: 221 at 22.05 kHz)."""
    return int(EGEMAPS_STEP_S * sample_rate + 0.5)  # half up, as openSMILE does (not banker's)


MEL_REFERENCES = ("fixed", "window_max")


def mel_window_db(power_columns: np.ndarray, left_pad: int, right_pad: int,
                  top_db: float, reference: str = "fixed") -> np.ndarray:
    """Power mel columns -> dB against power 1.0 (``reference="fixed"``) or their own maximum
    (``"window_max"``), floor ``-top_db``, padded with the floor."""
    import librosa

    n_mels = power_columns.shape[0]
    if reference == "fixed":
        db = np.maximum(librosa.power_to_db(power_columns, ref=1.0, top_db=None), -top_db)
    elif power_columns.size and power_columns.max() > 1e-10:
        db = librosa.power_to_db(power_columns, ref=np.max, top_db=top_db)
    else:  # silence (or nothing): all floor
        db = np.full(power_columns.shape, -top_db, np.float32)
    return np.concatenate([
        np.full((n_mels, left_pad), -top_db, np.float32),
        db.astype(np.float32),
        np.full((n_mels, right_pad), -top_db, np.float32),
    ], axis=1)


class AudioFeatureStream:
    """Mel windows and pooled eGeMAPS for increasing frame timestamps, pulling audio as needed.

    ``blocks`` is an iterable of mono float32 sample blocks at ``config.sample_rate``. Memory is
    bounded by the mel window plus one openSMILE block, whatever the recording length.
    """

    def __init__(self, blocks: Iterable[np.ndarray], config: MediaConfig, with_egemaps: bool = True):
        self.config = config
        self.with_egemaps = with_egemaps  # False: only mel windows asked for (audio kept for them only)
        self.sr = config.sample_rate
        self._blocks: Iterator[np.ndarray] = iter(blocks)
        self._eof = False
        self._buf = np.zeros(0, np.float32)  # samples [buf_start, buf_start + len)
        self._buf_start = 0
        self._total = 0  # samples received so far
        half = config.n_fft // 2
        # Mel power columns [col_start, col_start + n) of the whole signal.
        self._cols = np.zeros((config.n_mels, 0), np.float32)
        self._col_start = 0
        # eGeMAPS LLD frames: centre times (s) and values, plus the next block start (samples).
        self._lld_t = np.zeros(0)
        self._lld = np.zeros((0, EGEMAPS_DIM), np.float32)
        self._lld_done = 0
        self._step = egemaps_step_samples(self.sr)
        self._half = half

    # -- audio buffer --------------------------------------------------------------------------
    def _pull(self) -> bool:
        if self._eof:
            return False
        block = next(self._blocks, None)
        if block is None:
            self._eof = True
            return False
        self._buf = np.concatenate([self._buf, np.asarray(block, np.float32).reshape(-1)])
        self._total += len(block)
        return True

    def _ensure_samples(self, end: int):
        while self._total < end and self._pull():
            pass

    def _samples(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of the signal, zeros outside it (the STFT's centre padding)."""
        lo, hi = max(start, self._buf_start), min(stop, self._total)
        out = np.zeros(stop - start, np.float32)
        if hi > lo:
            out[lo - start:hi - start] = self._buf[lo - self._buf_start:hi - self._buf_start]
        return out

    def _trim(self, keep_from: int):
        keep_from = max(self._buf_start, min(keep_from, self._total))
        self._buf = self._buf[keep_from - self._buf_start:]
        self._buf_start = keep_from

    @property
    def has_audio(self) -> bool:
        """At least one eGeMAPS window of audio (a shorter track gives no features: masked)."""
        self._ensure_samples(self.min_samples)
        return self._total >= self.min_samples

    @property
    def min_samples(self) -> int:
        return int(np.ceil(EGEMAPS_MIN_S * self.sr))

    @property
    def duration(self) -> float:
        return self._total / self.sr

    # -- mel -----------------------------------------------------------------------------------
    def _n_columns_known(self) -> int | None:
        return 1 + self._total // self.config.hop_length if self._eof else None

    def _mel_columns(self, first: int, stop: int) -> tuple[np.ndarray, int]:
        """Power mel columns [first, stop) clipped to the signal's columns, and the first one's
        index."""
        import librosa

        cfg = self.config
        hop, n_fft = cfg.hop_length, cfg.n_fft
        block_cols = max(1, int(cfg.audio_block_s * self.sr) // hop)
        while True:
            have = self._col_start + self._cols.shape[1]
            known = self._n_columns_known()
            if have >= stop or (known is not None and have >= known):
                break
            # Column j needs samples up to j * hop + n_fft / 2 (end of its centred window).
            want = have + block_cols
            self._ensure_samples((want - 1) * hop + self._half)
            known = self._n_columns_known()
            if known is not None:
                want = min(want, known)
            else:
                want = min(want, (self._total - self._half) // hop + 1)
            if want <= have:
                continue
            seg = self._samples(have * hop - self._half, (want - 1) * hop - self._half + n_fft)
            spec = librosa.stft(seg, n_fft=n_fft, hop_length=hop, center=False)
            power = np.abs(spec) ** 2
            mel = _mel_basis(self.sr, n_fft, cfg.n_mels) @ power
            self._cols = np.concatenate([self._cols, mel.astype(np.float32)], axis=1)
        lo = max(first, self._col_start)
        hi = min(stop, self._col_start + self._cols.shape[1])
        if hi <= lo:
            return np.zeros((cfg.n_mels, 0), np.float32), 0
        return self._cols[:, lo - self._col_start:hi - self._col_start], lo

    def mel(self, timestamp: float) -> np.ndarray:
        """(n_mels, mel_frames) dB window centred on ``timestamp``."""
        cfg = self.config
        centre = int(round(timestamp * self.sr / cfg.hop_length))
        first = centre - cfg.mel_frames // 2
        stop = first + cfg.mel_frames
        cols, lo = self._mel_columns(max(first, 0), stop)
        left = lo - first if cols.shape[1] else cfg.mel_frames
        right = cfg.mel_frames - left - cols.shape[1]
        return mel_window_db(cols, left, right, cfg.top_db, cfg.mel_reference)

    # -- eGeMAPS -------------------------------------------------------------------------------
    def _egemaps_until(self, t_end: float):
        cfg = self.config
        block = max(1, int(cfg.egemaps_block_s * self.sr) // self._step) * self._step
        margin = int(np.ceil(cfg.egemaps_margin_s * self.sr / self._step)) * self._step
        while self._lld_t.size == 0 or self._lld_t[-1] < t_end:
            start = self._lld_done
            stop = start + block
            self._ensure_samples(stop + margin)
            if start >= self._total and self._eof:
                break
            seg_start = max(0, start - margin)
            seg = self._samples(seg_start, min(stop + margin, self._total))
            if len(seg) == 0:
                break
            frame = _smile().process_signal(seg, self.sr)
            starts = np.round(frame.index.get_level_values("start").total_seconds().to_numpy()
                              * self.sr).astype(np.int64) + seg_start
            keep = (starts >= start) & (starts < stop)
            self._lld_t = np.concatenate([self._lld_t,
                                          starts[keep] / self.sr + EGEMAPS_FRAME_S / 2])
            self._lld = np.concatenate([self._lld, frame.to_numpy(np.float32)[keep]])
            self._lld_done = stop

    def egemaps(self, timestamp: float, frame_duration: float) -> np.ndarray:
        """(EGEMAPS_DIM,) mean LLDs over ``[t - c*d, t + (1 + c)*d)``; zeros when no LLD frame falls in it."""
        c = self.config.egemaps_context
        lo, hi = timestamp - c * frame_duration, timestamp + (1 + c) * frame_duration
        self._egemaps_until(hi)
        sel = (self._lld_t >= lo) & (self._lld_t < hi)
        return self._lld[sel].mean(0) if sel.any() else np.zeros(EGEMAPS_DIM, np.float32)

    def release_before(self, timestamp: float, frame_duration: float):
        """Drop audio, mel columns and LLDs no later frame (t >= ``timestamp``) can need."""
        cfg = self.config
        first_col = int(round(timestamp * self.sr / cfg.hop_length)) - cfg.mel_frames // 2
        if first_col > self._col_start:
            self._cols = self._cols[:, first_col - self._col_start:]
            self._col_start = first_col
        lo = timestamp - cfg.egemaps_context * frame_duration
        keep = self._lld_t >= lo
        self._lld_t, self._lld = self._lld_t[keep], self._lld[keep]
        margin = int(np.ceil(cfg.egemaps_margin_s * self.sr))
        needed = max(self._col_start, 0) * cfg.hop_length - self._half
        if self.with_egemaps:
            needed = min(needed, self._lld_done - margin - self._step)
        self._trim(needed)
