"""``affect-tf predict VIDEO``: a whole video through the media preprocessing and the model.

Frames stream from :class:`affect_tf.media.FacePipeline` in chunks of ``chunk_frames``; each chunk
is sent with the last ``context_frames`` of the previous one (their outputs are dropped) so the
recurrent model does not restart cold at every chunk boundary. Memory is bounded by the chunk,
whatever the video length. The model is either served (``--server HOST:PORT``, TF Serving or
:mod:`serving.server`) or loaded in-process (``--model DIR``: a version folder or a base folder,
newest version). Per-frame predictions are median-filtered (``004_…`` §6.3; window from the
export metadata ``median_window`` or ``--median-window``) and written, each atomically, as
``<stem>.csv``, ``<stem>.json`` and ``<stem>.png`` (both curves over time, face-missing spans
shaded).
"""
from __future__ import annotations

import csv
import io
import json
import pathlib
import sys
import tempfile

import numpy as np

from affect_tf import export as export_lib
from affect_tf import features as F
from affect_tf import files

CSV_COLUMNS = ("frame", "time_s", "valence", "arousal", "valence_raw", "arousal_raw",
               "face_present", "audio_present")


class InProcessModel:
    """The exported SavedModel called in this process (same signature as the server runs)."""

    def __init__(self, model_dir):
        import tensorflow as tf

        path = pathlib.Path(model_dir)
        if not (path / "saved_model.pb").is_file():
            path = files.latest_version_dir(path)
            if path is None:
                raise SystemExit(f"{model_dir}: no SavedModel here nor in any <version>/ folder")
        self.path = path
        self.loaded = tf.saved_model.load(str(path))
        self.fn = self.loaded.signatures[export_lib.DEFAULT_SIGNATURE]
        self.input_names = tuple(self.fn.structured_input_signature[1])
        self.metadata = export_lib.read_metadata(path)
        self.description = f"in-process {path}"

    def __call__(self, inputs):
        import tensorflow as tf

        return {k: v.numpy() for k, v in self.fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


class ServedModel:
    """The model behind a TF Serving gRPC endpoint."""

    def __init__(self, target, model_name=F.MODEL_NAME, version=None, timeout=60.0):
        from serving.client import ServingClient

        self.client = ServingClient(target, model_name, timeout=timeout)
        self.version = version
        meta = self.client.get_metadata(version)
        sig = meta["signature_def"].signature_def[export_lib.DEFAULT_SIGNATURE]
        self.input_names = tuple(sig.inputs)
        self.metadata = dict(meta["metadata"])
        if F.FACE in sig.inputs and "crop_size" not in self.metadata:
            # real TF Serving sends no metadata asset: the crop side is in the signature
            self.metadata["crop_size"] = sig.inputs[F.FACE].tensor_shape.dim[2].size
        self.description = f"{model_name} version {meta['version']} at {target}"

    def __call__(self, inputs):
        return self.client.predict(inputs, version=self.version)


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


def _chunk_inputs(items, input_names) -> dict:
    columns = {
        F.FACE: lambda it: it.face,
        F.LANDMARKS: lambda it: it.landmarks_crop,
        F.MEL: lambda it: it.mel,
        F.EGEMAPS: lambda it: it.egemaps,
        F.FACE_MASK: lambda it: np.float32(it.face_present),
        F.AUDIO_MASK: lambda it: np.float32(it.audio_present),
    }
    unknown = sorted(set(input_names) - set(columns))
    if unknown:
        raise SystemExit(f"the model's serving signature wants inputs {unknown} that "
                         "preprocessing does not produce")
    return {name: np.stack([columns[name](it) for it in items])[None] for name in input_names}


def _spans(mask: np.ndarray):
    """(start, end) index pairs of the runs where ``mask`` is True (end exclusive)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def plot(times, valence, arousal, face_present, frame_duration, title) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5), dpi=100)
    for i, (start, end) in enumerate(_spans(~np.asarray(face_present, bool))):
        ax.axvspan(times[start], times[end - 1] + frame_duration, color="0.85",
                   label="no face" if i == 0 else None, lw=0)
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


def predict_video(video, out_dir, model, chunk_frames=80, context_frames=16, median_window=None,
                  media_config=None, progress=sys.stderr) -> dict:
    """Run ``video`` through preprocessing and ``model``; write CSV/JSON/PNG; return a summary."""
    from affect_tf.postprocess import median_filter_per_dimension
    from affect_tf.media import FacePipeline, MediaConfig
    from affect_tf.media import decode

    video = pathlib.Path(video)
    check_output_dir(out_dir, video)
    if chunk_frames < 1 or context_frames < 0:
        raise ValueError("chunk_frames must be >= 1 and context_frames >= 0")
    crop_size = int(model.metadata.get("crop_size", F.DEFAULT_CROP_SIZE))
    config = media_config or MediaConfig(crop_size=crop_size)
    window = median_window or model.metadata.get("median_window") or 1
    windows = (int(window), int(window)) if np.isscalar(window) else tuple(map(int, window))

    frames, valence, arousal, face, audio = [], [], [], [], []
    context, pending = [], []
    bar = None
    if progress:
        from tqdm import tqdm

        total = decode.video_info(str(video))["frames"] if decode.has_video_stream(str(video)) else 0
        bar = tqdm(total=total or None, desc=video.name, unit="frame", file=progress, dynamic_ncols=True)

    def flush():
        nonlocal context, pending
        out = model(_chunk_inputs(context + pending, model.input_names))
        valence.extend(np.asarray(out["valence"])[0, len(context):].tolist())
        arousal.extend(np.asarray(out["arousal"])[0, len(context):].tolist())
        if bar is not None:
            bar.update(len(pending))
        context = (context + pending)[-context_frames:] if context_frames else []
        pending = []

    try:  # a file without video is speech only: a 25 fps grid, refused if the model needs the face
        items = FacePipeline(config).process_media(video, input_names=model.input_names)
    except decode.MediaError as err:
        raise SystemExit(str(err)) from None
    for item in items:
        frames.append((item.index, item.timestamp))
        face.append(item.face_present)
        audio.append(item.audio_present)
        pending.append(item)
        if len(pending) == chunk_frames:
            flush()
    if pending:
        flush()
    if bar is not None:
        bar.close()
    if not frames:
        raise SystemExit(f"{video}: no frames could be decoded")

    raw = np.stack([valence, arousal], axis=-1).astype(np.float64)
    smooth = median_filter_per_dimension(raw, windows)
    smooth = np.clip(smooth, -1.0, 1.0)
    times = np.array([t for _, t in frames])
    face = np.array(face, bool)
    frame_duration = float(np.median(np.diff(times))) if len(times) > 1 else 0.04

    out_dir = check_output_dir(out_dir)
    stem = video.stem
    rows = [
        {"frame": int(i), "time_s": round(float(t), 4), "valence": float(smooth[k, 0]),
         "arousal": float(smooth[k, 1]), "valence_raw": float(raw[k, 0]), "arousal_raw": float(raw[k, 1]),
         "face_present": bool(face[k]), "audio_present": bool(audio[k])}
        for k, (i, t) in enumerate(frames)
    ]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "face_present": int(r["face_present"]), "audio_present": int(r["audio_present"])}
                     for r in rows)
    paths = {kind: out_dir / f"{stem}.{kind}" for kind in ("csv", "json", "png")}
    files.write_text_atomic(paths["csv"], text.getvalue())
    summary = {
        "video": str(video), "model": model.description, "model_metadata": model.metadata,
        "n_frames": len(rows), "frames_with_face": int(face.sum()),
        "median_window": list(windows), "chunk_frames": chunk_frames, "context_frames": context_frames,
        "mean_valence": float(smooth[:, 0].mean()), "mean_arousal": float(smooth[:, 1].mean()),
    }
    files.write_text_atomic(paths["json"], json.dumps({**summary, "frames": rows}, indent=1))
    title = f"{video.name} — {model.description} ({len(rows)} frames, {int((~face).sum())} without a face)"
    files.write_bytes_atomic(paths["png"], plot(times, smooth[:, 0], smooth[:, 1], face, frame_duration, title))
    return {**summary, "outputs": {k: str(v) for k, v in paths.items()}}

