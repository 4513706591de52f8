"""Checks on record files before and while a model trains on them: that they hold a labelled
frame (records of recordings without labels train nothing, silently), and which file is broken
when TensorFlow reports lost data (its own message names none)."""
from __future__ import annotations

import contextlib
import os

import numpy as np
import tensorflow as tf

from affect_tf import features as F
from affect_tf.data import reader, schema


def _is_pattern(data) -> bool:
    return isinstance(data, (str, os.PathLike, list, tuple))


def _patterns(data):
    return [str(p) for p in data] if isinstance(data, (list, tuple)) else str(data)


def _where(data) -> str:
    return str(data) if isinstance(data, (str, os.PathLike)) else ", ".join(map(str, data))


def _serialized_records(files):
    for group, compression in reader.record_groups(files):
        yield from tf.data.TFRecordDataset(group, compression_type=compression).as_numpy_iterator()


def require_labels(data, what: str) -> None:
    """Raise when the records ``data`` (a file pattern, a list of them, or a folder) hold no
    frame with a known label. Reads until the first labelled frame: labelled data cost one record.
    A ``tf.data`` dataset is not checked (its maker knows what it holds)."""
    if data is None or not _is_pattern(data):
        return
    files = reader.list_files(_patterns(data))
    for serialized in _serialized_records(files):
        _, labels, _ = schema.parse_sequence_example(serialized, decode_face=False)
        if np.any(labels[F.LABEL_MASK].numpy()):
            return
    raise ValueError(
        f"{_where(data)}: no labelled frame in the {what} records ({len(files)} file{'s' * (len(files) != 1)}, "
        f"label_mask 0 everywhere): these recordings came without labels (a predict split?)")


def corrupt_record_file(files) -> str | None:
    """The first of ``files`` that cannot be read to its end (truncated or corrupt), or None."""
    for file in files:
        try:
            for _ in _serialized_records([file]):
                pass
        except tf.errors.DataLossError:
            return file
    return None


@contextlib.contextmanager
def naming_corrupt_records(*datas):
    """Turn TensorFlow's DataLossError (which names no file) into an error naming the broken
    record file among ``datas`` (file patterns; datasets are skipped)."""
    try:
        yield
    except tf.errors.DataLossError as err:
        files = [f for d in datas if d is not None and _is_pattern(d) for f in reader.list_files(_patterns(d))]
        bad = corrupt_record_file(files)
        if bad is None:
            raise
        detail = (err.message or str(err)).strip().splitlines()[0]
        raise ValueError(f"{bad}: truncated or corrupt record file ({detail})") from err
