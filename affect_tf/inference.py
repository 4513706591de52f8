"""Valence and arousal for a video, a speech recording or a photo, from an exported model: the
library behind :func:`affect_tf.load_model` and ``affect-tf predict``.

``load_model(source)`` takes a SavedModel version folder, a serving base folder (newest version)
or ``HOST:PORT`` of a TF Serving gRPC endpoint, and returns an :class:`AffectModel` whose
``predict(path)`` gives one ``pandas.DataFrame`` row per video frame (per face for a photo):
``COLUMNS``. Frames stream through :class:`affect_tf.media.FacePipeline` in chunks of
``chunk_frames``; each chunk is sent with the last ``context_frames`` of the previous one (their
outputs dropped) so the recurrent model does not restart cold at every chunk boundary, and memory
is bounded by the chunk whatever the video length. Per-frame values are median-filtered
(``004`` §6.3; window from the export metadata ``median_window``) over each run of frames the
model can see, and clipped to [-1, 1]; a frame without the modality the model reads (no face for
a face model, neither face nor speech audio for a fusion model) gets no value (NaN).
"""
from __future__ import annotations

import pathlib
import re
import sys

import numpy as np

from affect_tf import export as export_lib
from affect_tf import features as F
from affect_tf import files
from affect_tf import provenance

COLUMNS = ("frame", "time_s", "track_id", "valence", "arousal", "valence_raw", "arousal_raw",
           "face_present", "audio_present", "face_confidence", "face_x0", "face_y0", "face_x1",
           "face_y1")
FACE_INPUTS = (F.FACE, F.LANDMARKS)
AUDIO_INPUTS = (F.MEL, F.EGEMAPS)
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


class InProcessModel:
    """The exported SavedModel called in this process (the signature a server runs)."""

    def __init__(self, model_dir):
        import tensorflow as tf

        path = pathlib.Path(model_dir)
        if not (path / "saved_model.pb").is_file():
            path = files.latest_version_dir(path)
            if path is None:
                raise ValueError(f"{model_dir}: no SavedModel here nor in any <version>/ folder")
        self.path = path
        self.loaded = tf.saved_model.load(str(path))
        self.fn = self.loaded.signatures[export_lib.DEFAULT_SIGNATURE]
        self.input_names = tuple(self.fn.structured_input_signature[1])
        stream = self.loaded.signatures.get(export_lib.STREAM_SIGNATURE)
        self.state_shapes = None if stream is None else {
            name: tuple(spec.shape[1:]) for name, spec in stream.structured_input_signature[1].items()
            if name.startswith(export_lib.STATE_PREFIX)}
        self.metadata = export_lib.read_metadata(path)
        self.description = f"in-process {path}"

    def __call__(self, inputs, signature=export_lib.DEFAULT_SIGNATURE):
        import tensorflow as tf

        fn = self.fn if signature == export_lib.DEFAULT_SIGNATURE else self.loaded.signatures[signature]
        return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


class ServedModel:
    """The model behind a TF Serving gRPC endpoint."""

    def __init__(self, target, model_name=F.MODEL_NAME, version=None, timeout=60.0):
        from affect_tf.remote import ServingClient

        self.client = ServingClient(target, model_name, timeout=timeout)
        self.version = version
        meta = self.client.get_metadata(version)
        signatures = meta["signature_def"].signature_def
        sig = signatures[export_lib.DEFAULT_SIGNATURE]
        self.input_names = tuple(sig.inputs)
        stream = signatures[export_lib.STREAM_SIGNATURE] if export_lib.STREAM_SIGNATURE in signatures else None
        self.state_shapes = None if stream is None else {
            name: tuple(d.size for d in info.tensor_shape.dim[1:]) for name, info in stream.inputs.items()
            if name.startswith(export_lib.STATE_PREFIX)}
        self.metadata = dict(meta["metadata"])
        if F.FACE in sig.inputs and "crop_size" not in self.metadata:
            # real TF Serving sends no metadata asset: the crop side is in the signature
            self.metadata["crop_size"] = sig.inputs[F.FACE].tensor_shape.dim[2].size
        self.description = f"{model_name} version {meta['version']} at {target}"

    def __call__(self, inputs, signature=export_lib.DEFAULT_SIGNATURE):
        return self.client.predict(inputs, signature=signature, version=self.version)


def open_backend(source, model_name=F.MODEL_NAME, version=None, timeout=60.0):
    """:class:`InProcessModel` for a folder, :class:`ServedModel` for ``HOST:PORT``."""
    text = str(source)
    if pathlib.Path(text).exists():
        return InProcessModel(text)
    if _HOST_PORT.match(text):
        return ServedModel(text, model_name, version, timeout)
    raise ValueError(f"{text}: no such model folder, and not HOST:PORT of a server")


def batch_inputs(sequences, input_names) -> dict:
    """``{input name: (B, T, ...) array}`` for B equally long lists of :class:`FrameItem`."""
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
        raise ValueError(f"the model's serving signature wants inputs {unknown} that "
                         "preprocessing does not produce")
    return {name: np.stack([np.stack([columns[name](it) for it in items]) for items in sequences])
            for name in input_names}


def spans(mask) -> list:
    """(start, end) index pairs of the runs where ``mask`` is True (end exclusive)."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, bool).astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


class AffectModel:
    """An exported affect model, in this process or behind a server: ``predict(path)``."""

    def __init__(self, backend):
        self.backend = backend
        self.metadata = backend.metadata
        self.input_names = backend.input_names
        self.description = backend.description
        self.needs_face = any(name in self.input_names for name in FACE_INPUTS)
        self.needs_audio = any(name in self.input_names for name in AUDIO_INPUTS)

    @property
    def synthetic_only(self) -> bool:
        """True when the export's provenance says it saw only synthetic data."""
        return provenance.trained_on_synthetic_only(self.metadata)

    def __repr__(self):
        return f"AffectModel({self.description})"

    def has_input(self, face_present, audio_present) -> np.ndarray:
        """Per frame: does the frame carry a modality this model reads."""
        face = np.asarray(face_present, bool) & self.needs_face
        audio = np.asarray(audio_present, bool) & self.needs_audio
        return face | audio

    def predict(self, path, chunk_frames: int = 80, context_frames: int = 16, median_window=None,
                media_config=None, progress=None):
        """Per-frame (per-face for a photo) ``pandas.DataFrame`` with ``COLUMNS``. ``path``: a
        video (its audio track used when present), an audio-only file (speech on a 25 fps grid)
        or a still image. Errors name the file and the problem (``ValueError``/``OSError``)."""
        import pandas as pd

        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(2, "no such file", str(path))
        if chunk_frames < 1 or context_frames < 0:
            raise ValueError("chunk_frames must be >= 1 and context_frames >= 0")
        from affect_tf.media.pipeline import is_image

        config = self.media_config(media_config)
        if is_image(path):
            items, raw = self._predict_photo(path, config)
        else:
            items, raw = self._predict_stream(path, config, chunk_frames, context_frames, progress)
        if not items:
            raise ValueError(f"{path}: no frames could be decoded")
        face = np.array([it.face_present for it in items], bool)
        audio = np.array([it.audio_present for it in items], bool)
        valid = self.has_input(face, audio)
        raw = np.where(valid[:, None], raw, np.nan)
        smooth = np.full_like(raw, np.nan)
        windows = self.median_windows(median_window)
        from affect_tf.postprocess import median_filter_per_dimension

        if is_image(path):
            smooth = raw.copy()
        else:
            for start, end in spans(valid):
                smooth[start:end] = median_filter_per_dimension(raw[start:end], windows)
        smooth = np.clip(smooth, -1.0, 1.0)
        boxes = np.array([it.face_box for it in items], np.float64).reshape(len(items), 4)
        boxes[~face] = np.nan
        frame = pd.DataFrame({
            "frame": [it.index for it in items], "time_s": [round(float(it.timestamp), 4) for it in items],
            "track_id": [it.track_id if it.face_present else -1 for it in items],
            "valence": smooth[:, 0], "arousal": smooth[:, 1],
            "valence_raw": raw[:, 0], "arousal_raw": raw[:, 1],
            "face_present": face.astype(int), "audio_present": audio.astype(int),
            "face_confidence": [float(it.face_confidence) for it in items],
            "face_x0": boxes[:, 0], "face_y0": boxes[:, 1], "face_x1": boxes[:, 2], "face_y1": boxes[:, 3],
        }, columns=list(COLUMNS))
        frame.attrs.update(source=str(path), model=self.description, median_window=list(windows))
        return frame

    def median_windows(self, median_window=None) -> tuple:
        window = median_window or self.metadata.get("median_window") or 1
        return (int(window), int(window)) if np.isscalar(window) else tuple(map(int, window))

    def media_config(self, media_config=None):
        """``media_config``, or the preprocessing this model was trained with (its crop size)."""
        from affect_tf.media import MediaConfig

        return media_config or MediaConfig(crop_size=int(self.metadata.get("crop_size", F.DEFAULT_CROP_SIZE)))

    def _predict_photo(self, path, config):
        """Every face of a still image, each a sequence of one frame (no audio)."""
        from affect_tf.media import FacePipeline

        if not self.needs_face:
            raise ValueError(f"{path}: a still image has no speech, and this model reads only audio")
        items = FacePipeline(config).process_photo(path)
        out = self.backend(batch_inputs([[it] for it in items], self.input_names))
        return items, np.stack([np.asarray(out["valence"])[:, 0], np.asarray(out["arousal"])[:, 0]], -1)

    def _predict_stream(self, path, config, chunk_frames, context_frames, progress):
        from affect_tf.media import FacePipeline
        from affect_tf.media import decode

        items, values, context, pending = [], [], [], []
        bar = None
        if progress:
            from tqdm import tqdm

            has_video = decode.has_video_stream(str(path))
            total = decode.video_info(str(path))["frames"] if has_video else 0
            bar = tqdm(total=total or None, desc=path.name, unit="frame", file=progress, dynamic_ncols=True)

        def flush():
            nonlocal context, pending
            out = self.backend(batch_inputs([context + pending], self.input_names))
            values.extend(np.stack([np.asarray(out["valence"])[0, len(context):],
                                    np.asarray(out["arousal"])[0, len(context):]], -1))
            if bar is not None:
                bar.update(len(pending))
            context = (context + pending)[-context_frames:] if context_frames else []
            pending = []

        # a file without video is speech only: a 25 fps grid, refused if the model needs the face
        for item in FacePipeline(config).process_media(path, input_names=self.input_names):
            # keep only what the outputs need; the crops of older frames are dropped with the chunk
            items.append(_light(item))
            pending.append(item)
            if len(pending) == chunk_frames:
                flush()
        if pending:
            flush()
        if bar is not None:
            bar.close()
        return items, np.asarray(values, np.float64).reshape(-1, 2)


def _light(item):
    """The item without its arrays (a long video's crops and spectrograms are not kept)."""
    import dataclasses

    return dataclasses.replace(item, face=None, mel=None, egemaps=None)


def load_model(source, model_name: str = F.MODEL_NAME, version: int | None = None,
               timeout: float = 60.0, warn=sys.stderr) -> AffectModel:
    """An :class:`AffectModel` from a SavedModel version folder, a serving base folder (newest
    version) or ``HOST:PORT`` of a TF Serving gRPC endpoint (``model_name``, ``version``).

    When the export's provenance says it saw only synthetic data, one plain line says so on
    ``warn`` (None: silent); ``model.synthetic_only`` tells the same."""
    model = AffectModel(open_backend(source, model_name, version, timeout))
    if warn is not None and model.synthetic_only:
        print(provenance.SYNTHETIC_ONLY_WARNING.format(model=model.description), file=warn)
    return model
