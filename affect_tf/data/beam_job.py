"""The preprocessing Beam job: dataset drop -> per-split TFRecords + ``summary.json`` (``docs/data.md``).

manifest (adapters) -> ``Reshuffle`` -> ``PreprocessRecording`` (heavy models loaded once per
worker in ``setup``; frames streamed and written chunk by chunk, so memory is bounded by one
chunk) -> per-recording stats -> ``summary.json``.

Output layout::

    <output>/<split>/<recording>.tfrecord.gz   one file per recording: its SequenceExample chunks
    <output>/_stats/<recording>.json           per-recording stats (written before the record)
    <output>/summary.json                      totals, per-split counts and errors
    <output>/_tmp/                             files being written (renamed when complete)

A record file appears only once complete (temp file + rename), so a re-run skips recordings
already written and never duplicates one; a recording that fails is reported in the summary
and the others finish. The default runner is the DirectRunner with worker processes
(``--direct_running_mode=multi_processing --direct_num_workers=2``);
``--dask_client_address=HOST:PORT`` runs it on a Dask cluster; any other runner is chosen
with the usual Beam pipeline options (see docs/data.md).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pkgutil
import re
import socket
import sys
import threading
import time

import numpy as np

from affect_tf import features as F
from affect_tf.data import adapters, recordings, schema
from affect_tf.data.interrupt import run_shielding_workers

LOG = logging.getLogger("affect_tf.preprocess")
DEFAULT_PROCESSOR = "affect_tf.data.beam_job:face_pipeline_processor"
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"  # no short name in Beam 2.74
RECORD_SUFFIX = {"gzip": ".tfrecord.gz", "none": ".tfrecord"}


MAX_NAME_CHARS = 200  # leaves room for the longest suffix (".<pid>.tfrecord.gz") under 255 bytes


def _plain_name(recording_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", recording_id.replace("/", "__"))


def safe_name(recording_id: str) -> str:
    """A file name for a recording id (``/`` and odd characters become ``__``/``_``). A name
    that would be hidden starts with ``_`` for each leading ``.`` instead (``../x`` ->
    ``____x``), and one over :data:`MAX_NAME_CHARS` is cut and ends in ``~`` and a hash of the
    id: every id gets a visible file name the file system takes (docs/data.md)."""
    name = re.sub(r"^\.+", lambda dots: "_" * len(dots[0]), _plain_name(recording_id))
    if len(name) > MAX_NAME_CHARS:
        digest = hashlib.sha256(recording_id.encode()).hexdigest()[:12]
        name = f"{name[:MAX_NAME_CHARS - len(digest) - 1]}~{digest}"
    return name


def renamed_note(recording_id: str) -> str | None:
    """The warning for an id whose file name had to be rewritten (hidden or too long)."""
    name = safe_name(recording_id)
    if name == _plain_name(recording_id):
        return None
    why = "too long for a file name" if len(_plain_name(recording_id)) > MAX_NAME_CHARS else "a hidden file name"
    return f"recording id {recording_id!r} is written as {name!r} ({why} otherwise)"


def check_file_names(recordings, root) -> None:
    """Refuse, before anything runs, ids that share a file name (``a/b`` and ``a__b``): one
    recording would silently replace the other."""
    owner = {}
    for recording in recordings:
        other = owner.setdefault(safe_name(recording.id), recording.id)
        if other != recording.id:
            raise adapters.LayoutError(
                f"{root}: recording ids {other!r} and {recording.id!r} both map to the file name "
                f"{safe_name(recording.id)!r}; rename one")


# The options that change what a record holds or where it goes, with the flag that sets each: a
# rerun resumes only into an output made with the same values (settings.json, summary.json).
RECORD_OPTIONS = {"crop_size": "--crop-size", "chunk_frames": "--chunk-frames",
                  "chunk_overlap": "--chunk-overlap", "face_format": "--face-format",
                  "compression": "--compression", "folds": "--folds", "fold": "--fold", "seed": "--seed",
                  "processor": "--processor", "mel_reference": "--mel-reference",
                  "schema_version": "schema version"}


def check_record_settings(output_dir: str, settings: dict) -> dict:
    """Refuse to resume into ``output_dir`` when its records were made with other
    :data:`RECORD_OPTIONS` (naming the option and both values); else record ``settings`` in
    ``<output>/settings.json`` (before any record is written, so a killed run is covered)."""
    import tensorflow as tf

    settings = json.loads(json.dumps(settings, sort_keys=True, default=str))  # as read back
    path = f"{output_dir}/settings.json"
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as handle:
            before = json.load(handle)
        for key, flag in RECORD_OPTIONS.items():
            if key in before and before[key] != settings[key]:
                shown = lambda value: "(not given)" if value is None else value
                raise ValueError(
                    f"{output_dir}: its records were made with {flag} {shown(before[key])}, this run asks for "
                    f"{flag} {shown(settings[key])}; rerun with {flag} {shown(before[key])} to resume, or write "
                    f"to another --output")
    _write_text(path, json.dumps(settings, indent=2, sort_keys=True))
    return settings


def load_processor(spec: str, **kwargs):
    """``module:factory`` -> the factory's result (an object with ``process(recording)``)."""
    if ":" not in spec:
        raise ValueError(f"processor must be 'module:factory', got {spec!r}")
    return pkgutil.resolve_name(spec)(**kwargs)


_PROCESSORS = {}


def cached_processor(spec: str, options: dict):
    """One processor per worker thread and configuration: the DaskRunner runs ``setup`` for
    every bundle (one recording each), and the face models take seconds to load."""
    key = (threading.get_ident(), spec, json.dumps(options, sort_keys=True, default=str))
    if key not in _PROCESSORS:
        _PROCESSORS[key] = load_processor(spec, **options)
    return _PROCESSORS[key]


class FacePipelineProcessor:
    """The real per-recording preprocessing: :class:`affect_tf.media.FacePipeline` on a video
    or on a list of frame images (with given landmarks, AFEW-VA), cut to ``start``/``end``."""

    def __init__(self, crop_size: int = F.DEFAULT_CROP_SIZE, **media_options):
        from affect_tf.media import FacePipeline, MediaConfig

        self.pipeline = FacePipeline(MediaConfig(crop_size=crop_size, **media_options))

    def process(self, recording):
        if recording.frames is not None:
            items = self.pipeline.process_images(list(recording.frames), fps=recording.fps,
                                                 landmarks=recording.landmarks,
                                                 audio_path=recording.audio,
                                                 face_crops=recording.face_crops)
        elif recording.video is None:  # speech only: a frame grid at the manifest's fps
            items = self.pipeline.process_audio(recording.audio, fps=recording.fps)
        else:
            if not os.path.exists(recording.video):
                raise FileNotFoundError(f"{recording.video}: video not found")
            items = self.pipeline.process_video(recording.video, audio_path=recording.audio)
        if recording.start is None:
            yield from items
            return
        for item in items:
            if item.timestamp < recording.start:
                continue
            if recording.end is not None and item.timestamp >= recording.end:
                break
            yield item  # frame index stays the source video's; labels are per utterance


def face_pipeline_processor(**kwargs):
    return FacePipelineProcessor(**kwargs)


def _label_index(recording, item) -> int:
    """A frame's row in the per-frame labels: its index, or for labels resampled from time
    stamps the grid point nearest its own time stamp (variable-frame-rate video too)."""
    if recording.label_fps is None:
        return item.index
    position = item.timestamp * recording.label_fps
    index = int(round(position))
    # the grid ends at the last whole step before the last annotation: a frame after that
    # point, less than a step later, takes it
    return index - 1 if index == recording.n_labels and position < index else index


def _frame_labels(recording, item):
    """(valence, arousal, mask(2,)) of one frame: per-frame, per-utterance or unknown."""
    index = _label_index(recording, item)
    if recording.utterance_labels is not None:
        v, a = recording.utterance_labels
        return v, a, (1.0, 1.0)
    if recording.valence is not None and index < len(recording.valence):
        return (recording.valence[index], recording.arousal[index], tuple(recording.label_mask[index]))
    return 0.0, 0.0, (0.0, 0.0)


class _ChunkWriter:
    """Collects frames and serializes a SequenceExample every ``chunk_frames`` frames, keeping
    ``overlap`` frames as context for the next chunk."""

    def __init__(self, recording, writer, fps, chunk_frames, overlap, face_format):
        if not 0 <= overlap < chunk_frames:
            raise ValueError(f"chunk overlap {overlap} must be in [0, chunk_frames={chunk_frames})")
        self.recording, self.writer, self.fps = recording, writer, fps
        self.chunk_frames, self.overlap, self.face_format = chunk_frames, overlap, face_format
        self.rows, self.chunk_start, self.carried, self.chunks = [], 0, 0, 0

    def add(self, row):
        self.rows.append(row)
        if len(self.rows) >= self.chunk_frames:
            self.flush()

    def flush(self, final=False):
        if not self.rows or (final and self.chunks and len(self.rows) <= self.carried):
            return  # nothing new since the last chunk
        cols = {k: np.stack([r[k] for r in self.rows]) for k in self.rows[0]}
        r = self.recording
        self.writer.write(schema.encode_recording(
            recording_id=r.id, subject=r.subject, split=r.split, fps=self.fps,
            face=cols["face"], landmarks=cols["landmarks"], face_mask=cols["face_mask"],
            mel=cols["mel"], egemaps=cols["egemaps"], audio_mask=cols["audio_mask"],
            valence=cols["valence"], arousal=cols["arousal"], label_mask=cols["label_mask"],
            face_confidence=cols["face_confidence"], landmarks_fitted=cols["landmarks_fitted"],
            label_scale=r.label_scale, chunk_start=self.chunk_start, chunk_overlap=self.carried,
            face_format=self.face_format, category=r.category))
        self.chunks += 1
        if not final:
            keep = min(self.overlap, len(self.rows))
            self.chunk_start += len(self.rows) - keep
            self.rows, self.carried = self.rows[len(self.rows) - keep:], keep


def preprocess_recording(recording, processor, output_dir, chunk_frames=500, chunk_overlap=16,
                         face_format="png", compression="gzip") -> dict:
    """Process one recording into ``<output>/<split>/<id><suffix>``; returns its stats.

    Skips (``resumed``) when the record already exists; on failure returns stats with
    ``error`` and leaves no record behind.
    """
    import tensorflow as tf

    name = safe_name(recording.id)
    final = f"{output_dir}/{recording.split}/{name}{RECORD_SUFFIX[compression]}"
    stats_path = f"{output_dir}/_stats/{name}.json"
    if tf.io.gfile.exists(final) and tf.io.gfile.exists(stats_path):
        with tf.io.gfile.GFile(stats_path) as handle:
            return {**json.load(handle), "resumed": True}
    stats = {"id": recording.id, "split": recording.split, "subject": recording.subject,
             "frames": 0, "faces_found": 0, "frames_without_face": 0, "frames_without_audio": 0,
             "frames_unlabelled": 0, "chunks": 0, "error": None, "resumed": False,
             "worker": {"host": socket.gethostname(), "pid": os.getpid()}}
    tmp = f"{output_dir}/_tmp/{name}.{os.getpid()}{RECORD_SUFFIX[compression]}"
    for folder in (f"{output_dir}/_tmp", f"{output_dir}/_stats", f"{output_dir}/{recording.split}"):
        tf.io.gfile.makedirs(folder)
    if recording.error:  # a bad manifest row: reported, nothing written
        return {**stats, "error": recording.error}
    started = time.time()
    try:
        options = tf.io.TFRecordOptions(compression_type="GZIP" if compression == "gzip" else "")
        fps = recording.fps or recordings.video_fps(recording.video)
        with tf.io.TFRecordWriter(tmp, options) as writer:
            chunks = _ChunkWriter(recording, writer, fps, chunk_frames, chunk_overlap, face_format)
            for item in processor.process(recording):
                v, a, mask = _frame_labels(recording, item)
                chunks.add({
                    "face": np.asarray(item.face, np.uint8),
                    "landmarks": np.asarray(item.landmarks_crop, np.float32),
                    "face_mask": float(item.face_present), "mel": np.asarray(item.mel, np.float32),
                    "face_confidence": float(item.face_confidence),
                    "landmarks_fitted": float(item.landmarks_fitted),
                    "egemaps": np.asarray(item.egemaps, np.float32),
                    "audio_mask": float(item.audio_present), "valence": v, "arousal": a,
                    "label_mask": np.asarray(mask, np.float32)})
                stats["frames"] += 1
                stats["faces_found"] += int(bool(item.face_present))
                stats["frames_without_audio"] += int(not item.audio_present)
                stats["frames_unlabelled"] += int(not np.any(mask))
            if stats["frames"] == 0:
                raise ValueError("no frames decoded")
            if recording.n_labels and stats["frames_unlabelled"] == stats["frames"]:
                raise recordings.LayoutError(
                    f"{recording.labels or recording.id}: none of the {stats['frames']} frames gets a known "
                    f"label (the labels' times or rows miss the video, or every value is unknown)")
            # labels past the last frame are ignored: a warning naming the labels file
            stats["labels_beyond_video"] = max(recording.n_labels - _label_index(recording, item) - 1, 0)
            notes = [renamed_note(recording.id)]
            if stats["labels_beyond_video"]:
                notes.append(f"{recording.labels or recording.id}: {stats['labels_beyond_video']} "
                                f"labels past the last frame ({stats['frames']} frames) ignored")
            if any(notes):
                stats["warning"] = "; ".join(filter(None, notes))
            chunks.flush(final=True)
            stats["chunks"] = chunks.chunks
        stats["frames_without_face"] = stats["frames"] - stats["faces_found"]
        stats["fps"] = fps
        stats["seconds"] = round(time.time() - started, 3)
        _write_text(stats_path, json.dumps({k: v for k, v in stats.items() if k != "resumed"}))
        tf.io.gfile.rename(tmp, final, overwrite=True)
    except Exception as err:  # one bad recording must not stop the job
        stats["error"] = f"{type(err).__name__}: {err}"
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
    return stats


def _write_text(path: str, text: str) -> None:
    import tensorflow as tf

    tmp = f"{path}.tmp{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as handle:
        handle.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def _beam():
    import apache_beam as beam

    return beam


class PreprocessRecording(_beam().DoFn):
    """Recording -> stats dict, writing its record file. The processor (face detector,
    landmark model, openSMILE) is built once per worker in ``setup``."""

    def __init__(self, output_dir, processor=DEFAULT_PROCESSOR, processor_options=None,
                 chunk_frames=500, chunk_overlap=16, face_format="png", compression="gzip", total=0):
        self.output_dir, self.processor_spec = output_dir, processor
        self.processor_options = dict(processor_options or {})
        self.chunk_frames, self.chunk_overlap = chunk_frames, chunk_overlap
        self.face_format, self.compression, self.total = face_format, compression, total

    def setup(self):
        self.processor = cached_processor(self.processor_spec, self.processor_options)

    def process(self, recording):
        beam = _beam()
        stats = preprocess_recording(recording, self.processor, self.output_dir, self.chunk_frames,
                                     self.chunk_overlap, self.face_format, self.compression)
        if stats["error"] or stats["resumed"]:  # outcome of this run, read back by the launcher
            _write_text(f"{self.output_dir}/_stats/{safe_name(recording.id)}.json", json.dumps(stats))
        state = "resumed" if stats["resumed"] else ("FAILED " + stats["error"] if stats["error"] else "done")
        print(f"[preprocess pid {os.getpid()}] {recording.id}: {state}, {stats['frames']} frames, "
              f"{stats['faces_found']} faces (of {self.total} recordings)"
              + (f"; WARNING {stats['warning']}" if stats.get("warning") else ""), file=sys.stderr, flush=True)
        beam.metrics.Metrics.counter("preprocess", "recordings").inc()
        beam.metrics.Metrics.counter("preprocess", "frames").inc(stats["frames"])
        if stats["error"]:
            beam.metrics.Metrics.counter("preprocess", "errors").inc()
        yield stats


def summarize(all_stats, output_dir, dataset="", root="", settings=None) -> dict:
    """Totals over the per-recording stats, written to ``<output>/summary.json``."""
    all_stats = sorted(all_stats, key=lambda s: s["id"])
    ok = [s for s in all_stats if not s["error"]]
    keys = ("frames", "faces_found", "frames_without_face", "frames_without_audio", "frames_unlabelled")
    splits = {}
    for s in ok:
        entry = splits.setdefault(s["split"], {"recordings": 0, "frames": 0})
        entry["recordings"] += 1
        entry["frames"] += s["frames"]
    summary = {
        "dataset": dataset, "root": str(root), "schema_version": schema.SCHEMA_VERSION,
        "settings": settings or {},
        "recordings": len(all_stats), "written": sum(not s.get("resumed") for s in ok),
        "resumed": sum(bool(s.get("resumed")) for s in ok), "failed": len(all_stats) - len(ok),
        **{k: int(sum(s[k] for s in ok)) for k in keys},
        "masked_frames": int(sum(s["frames_without_face"] for s in ok)),
        "splits": splits,
        "errors": [{"id": s["id"], "error": s["error"]} for s in all_stats if s["error"]],
        "warnings": [{"id": s["id"], "warning": s["warning"]} for s in ok if s.get("warning")],
    }
    _write_text(f"{output_dir}/summary.json", json.dumps(summary, indent=2, sort_keys=True))
    return summary


class RecordingProgress:
    """A tqdm bar over the recordings finished in this run, whatever the runner: each one leaves
    its stats file (on any worker process or machine), read here every two seconds."""

    def __init__(self, output_dir, recordings, since: float):
        import threading

        from tqdm import tqdm

        self.paths = [f"{output_dir}/_stats/{safe_name(r.id)}.json" for r in recordings]
        self.since, self.seen = since, {}
        self.bar = tqdm(total=len(self.paths), desc="preprocess", unit="rec", file=sys.stderr,
                        dynamic_ncols=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="progress", daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.wait(2.0):
            self.update()

    def update(self):
        import tensorflow as tf

        for path in self.paths:
            if path in self.seen or not tf.io.gfile.exists(path):
                continue
            if tf.io.gfile.stat(path).mtime_nsec / 1e9 < self.since - 1:
                continue  # from an earlier run; this run rewrites it when it gets there
            try:
                with tf.io.gfile.GFile(path) as handle:
                    self.seen[path] = json.load(handle).get("frames", 0)
            except (ValueError, tf.errors.OpError):
                continue  # being replaced; next poll
        frames = sum(self.seen.values())
        self.bar.set_postfix_str(f"{frames} frames, {frames / max(time.time() - self.since, 1e-9):.1f} frames/s",
                                 refresh=False)
        self.bar.update(len(self.seen) - self.bar.n)

    def close(self):
        self._stop.set()
        self._thread.join()
        self.update()
        self.bar.close()


def default_pipeline_args(pipeline_args=(), workers: int = 2) -> list[str]:
    """Beam options with defaults filled in where not given: the DirectRunner with worker
    processes, or the DaskRunner when a ``--dask_client_address`` is given, with one recording
    per Dask partition (Dask would pack 128 into one, all on one worker)."""
    args = list(pipeline_args)
    given = " ".join(args)
    if "--runner" not in given:
        args.append(f"--runner={DASK_RUNNER}" if "--dask_client_address" in given else "--runner=DirectRunner")
    if "DaskRunner" in " ".join(a for a in args if a.startswith("--runner")):
        if "--dask_npartitions" not in given and "--dask_partition_size" not in given:
            args.append("--dask_partition_size=1")
    if "DirectRunner" in " ".join(a for a in args if a.startswith("--runner")):
        if "--direct_running_mode" not in given:
            args.append("--direct_running_mode=multi_processing")
        if "--direct_num_workers" not in given:
            args.append(f"--direct_num_workers={workers}")
    return args


def worker_processes(args) -> int:
    """How many worker processes the DirectRunner starts with these options (0: in-process)."""
    given = dict(a.lstrip("-").split("=", 1) for a in args if a.startswith("--") and "=" in a)
    if "DirectRunner" not in given.get("runner", "") or given.get("direct_running_mode") != "multi_processing":
        return 0
    return int(given.get("direct_num_workers", 1)) or os.cpu_count() or 1


def run_preprocess(dataset: str, root, output_dir, pipeline_args=(), *, workers: int = 2,
                   processor: str = DEFAULT_PROCESSOR, processor_options=None,
                   crop_size: int = F.DEFAULT_CROP_SIZE, chunk_frames: int = 500, chunk_overlap: int = 16,
                   face_format: str = "png", compression: str = "gzip",
                   n_folds: int | None = None, fold: int = 0, seed: int = 0,
                   limit: int | None = None, recordings=None, progress: bool = False) -> dict:
    """Run the job and return the summary (also in ``<output>/summary.json``).

    ``progress``: a progress bar on stderr (recordings, and frames per second across workers).

    ``recordings`` overrides the adapter's manifest (e.g. a subset); ``processor`` is
    ``module:factory`` called with ``processor_options`` (plus ``crop_size`` for the default).
    """
    beam = _beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    output_dir = str(output_dir).rstrip("/")
    if recordings is None:
        recordings = adapters.load_manifest(dataset, root, n_folds=n_folds, fold=fold, seed=seed)
    recordings = list(recordings)[:limit] if limit else list(recordings)
    if compression not in RECORD_SUFFIX:
        raise ValueError(f"compression must be one of {sorted(RECORD_SUFFIX)}")
    check_file_names(recordings, root)
    if not 0 <= chunk_overlap < chunk_frames:
        raise ValueError(f"--chunk-overlap {chunk_overlap} must be in [0, --chunk-frames={chunk_frames})")
    try:  # a typo fails here, not in every worker
        pkgutil.resolve_name(processor)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"--processor {processor!r} is not an importable 'module:factory' ({err})") from None
    options = dict(processor_options or {})
    if processor == DEFAULT_PROCESSOR:
        from affect_tf.media.config import MediaConfig

        options.setdefault("crop_size", crop_size)
        options.setdefault("mel_reference", MediaConfig.mel_reference)
    import tensorflow as tf

    tf.io.gfile.makedirs(output_dir)
    settings = check_record_settings(output_dir, {
        "crop_size": options.get("crop_size"), "chunk_frames": chunk_frames, "chunk_overlap": chunk_overlap,
        "face_format": face_format, "compression": compression, "folds": n_folds,
        "fold": fold if n_folds else None, "seed": seed if n_folds else None, "processor": processor,
        "mel_reference": options.get("mel_reference"), "schema_version": schema.SCHEMA_VERSION})
    if tf.io.gfile.isdir(f"{output_dir}/_tmp"):  # partial files of a killed run: never renamed
        tf.io.gfile.rmtree(f"{output_dir}/_tmp")
    print(f"preprocess: {len(recordings)} recordings of {dataset or 'manifest'} -> {output_dir}",
          file=sys.stderr, flush=True)
    started = time.time()
    args = default_pipeline_args(pipeline_args, workers)
    p = beam.Pipeline(options=PipelineOptions(args))
    _ = (
        p
        | "Manifest" >> beam.Create(recordings, reshuffle=False)
        | "Spread" >> beam.Reshuffle()
        | "Preprocess" >> beam.ParDo(PreprocessRecording(
            output_dir, processor, options, chunk_frames, chunk_overlap, face_format,
            compression, total=len(recordings)))
    )
    bar = RecordingProgress(output_dir, recordings, time.time()) if progress else None

    def run_and_wait():
        result = p.run()
        try:
            result.wait_until_finish()
        finally:
            if getattr(result, "client", None) is not None:  # DaskRunner: leave the cluster, not stop it
                result.client.close()

    try:
        run_shielding_workers(run_and_wait, worker_processes(args))
    finally:
        if bar is not None:
            bar.close()
    # Every recording left its stats (or its error) in _stats/; the summary is made here, in
    # the launcher, so the pipeline needs no global combine.
    stats = []
    for recording in recordings:
        path = f"{output_dir}/_stats/{safe_name(recording.id)}.json"
        if not tf.io.gfile.exists(path):
            stats.append({"id": recording.id, "split": recording.split, "error": "no result (worker lost)",
                          "resumed": False})
            continue
        with tf.io.gfile.GFile(path) as handle:
            stats.append(json.load(handle))
    summary = summarize(stats, output_dir, dataset, str(root), settings)
    if tf.io.gfile.exists(f"{output_dir}/_tmp") and not tf.io.gfile.listdir(f"{output_dir}/_tmp"):
        tf.io.gfile.rmtree(f"{output_dir}/_tmp")
    summary["seconds"] = round(time.time() - started, 2)
    return summary

