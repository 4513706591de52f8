"""``affect-tf predict FILE``: :meth:`affect_tf.inference.AffectModel.predict` on a video, a
speech recording or a photo, written as files.

The per-frame table (``affect_tf.inference.COLUMNS``: time, the filtered and raw values, face
box, detector confidence, track id, face/audio present) is written, each file atomically, as
``<stem>.csv``, ``<stem>.json`` (a summary over the frames that carry what the model reads, and
the rows) and ``<stem>.png`` (both curves over time; the spans the model could not see shaded).
"""
from __future__ import annotations

import io
import json
import pathlib
import sys
import tempfile

import numpy as np

from affect_tf import files
from affect_tf.inference import COLUMNS as CSV_COLUMNS
from affect_tf.inference import AffectModel, spans


def check_output_dir(out_dir, video=None) -> pathlib.Path:
    """Fail before any work when ``video`` is missing or ``out_dir`` cannot be created and
    written (the error names the path)."""
    if video is not None and not pathlib.Path(video).is_file():
        raise ValueError(f"{video}: no such video file")
    out = pathlib.Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise OSError(err.errno, f"output folder cannot be written ({err.strerror})", str(out)) from None
    return out


def plot(times, valence, arousal, seen, frame_duration, title, unseen_label="no face") -> bytes:
    """Both curves over time; the spans where ``seen`` is False (the model had nothing to read)
    shaded and labelled ``unseen_label``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5), dpi=100)
    for i, (start, end) in enumerate(spans(~np.asarray(seen, bool))):
        ax.axvspan(times[start], times[end - 1] + frame_duration, color="0.85",
                   label=unseen_label if i == 0 else None, lw=0)
    ax.plot(times, valence, color="tab:blue", lw=1.5, label="valence")
    ax.plot(times, arousal, color="tab:red", lw=1.5, label="arousal")
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlim(0, max(float(times[-1]) + frame_duration, frame_duration) if len(times) else 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("value on [-1, 1]")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8, ncol=3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def unseen_label(model: AffectModel) -> str:
    """What a shaded span lacks, for this model's inputs."""
    if model.needs_face and model.needs_audio:
        return "no face or speech"
    return "no face" if model.needs_face else "no speech audio"


def summarize(frame, model: AffectModel) -> dict:
    """Counts, and means over the frames that carry a modality the model reads."""
    seen = model.has_input(frame["face_present"], frame["audio_present"])
    return {
        "model": model.description, "model_metadata": model.metadata,
        "synthetic_only": model.synthetic_only,
        "n_frames": int(frame["frame"].nunique()), "n_rows": len(frame),
        "frames_with_face": int(frame.loc[frame["face_present"] == 1, "frame"].nunique()),
        "frames_with_audio": int(frame.loc[frame["audio_present"] == 1, "frame"].nunique()),
        "rows_with_a_value": int(seen.sum()),
        "mean_valence": float(frame.loc[seen, "valence"].mean()) if seen.any() else None,
        "mean_arousal": float(frame.loc[seen, "arousal"].mean()) if seen.any() else None,
        "median_window": frame.attrs.get("median_window"),
    }


def predict_video(video, out_dir, model: AffectModel, chunk_frames=80, context_frames=16,
                  median_window=None, media_config=None, progress=sys.stderr, overlay=None) -> dict:
    """Predict ``video`` (or a recording or photo) and write CSV/JSON/PNG, and with ``overlay``
    that MP4 (:func:`affect_tf.media.overlay.write_overlay`); return a summary."""
    video = pathlib.Path(video)
    check_output_dir(out_dir, video)
    frame = model.predict(video, chunk_frames, context_frames, median_window, media_config, progress)
    out_dir = check_output_dir(out_dir)
    paths = {kind: out_dir / f"{video.stem}.{kind}" for kind in ("csv", "json", "png")}
    files.write_text_atomic(paths["csv"], frame.to_csv(index=False, columns=list(CSV_COLUMNS),
                                                      lineterminator="\n", na_rep=""))
    summary = {"video": str(video), **summarize(frame, model), "chunk_frames": chunk_frames,
               "context_frames": context_frames}
    rows = json.loads(frame.to_json(orient="records"))  # NaN -> null
    files.write_text_atomic(paths["json"], json.dumps({**summary, "frames": rows}, indent=1))
    times = frame["time_s"].to_numpy(float)
    seen = model.has_input(frame["face_present"], frame["audio_present"])
    frame_duration = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    title = (f"{video.name} — {model.description} ({len(frame)} frames, "
             f"{int((~seen).sum())} {unseen_label(model).replace('no ', 'without ')})")
    if model.synthetic_only:
        title += " — trained on synthetic data only"
    files.write_bytes_atomic(paths["png"], plot(times, frame["valence"].to_numpy(float),
                                                frame["arousal"].to_numpy(float), seen,
                                                max(frame_duration, 1e-3), title, unseen_label(model)))
    if overlay:
        from affect_tf.media.overlay import write_overlay

        paths["overlay"] = write_overlay(video, frame, overlay)
    return {**summary, "outputs": {k: str(v) for k, v in paths.items()}}
