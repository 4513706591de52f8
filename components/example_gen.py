"""DropExampleGen: a dataset drop -> an ``Examples`` artifact of sequence records.

Runs the Beam preprocessing job (:func:`affect_tf.data.beam_job.run_preprocess`) on the drop and
lays its per-split shards out as TFX expects (``<uri>/Split-<split>/*.tfrecord*``). Splits are the
adapter's subject-independent ones. ``beam_args`` (a JSON list) go to the Beam job unchanged, so
the same component runs on Flink, Spark or Dataflow (``--runner=...``).

``fingerprint`` is part of the execution's inputs: TFX caches on inputs and parameters, so the
fingerprint of the drop's files (:func:`drop_fingerprint`) makes a changed drop re-run the
preprocessing while an unchanged one is reused from the cache.
"""

import hashlib
import json
import os
import shutil

from tfx import v1 as tfx
from tfx.types import artifact_utils

Examples = tfx.types.standard_artifacts.Examples
PAYLOAD_FORMAT = "FORMAT_TF_SEQUENCE_EXAMPLE"


def drop_fingerprint(root: str) -> str:
    """sha256 over the relative path, size and modification time of every file under ``root``."""
    if not os.path.exists(root):
        raise FileNotFoundError(f"dataset drop {root} does not exist")
    digest = hashlib.sha256()
    paths = [root] if os.path.isfile(root) else sorted(
        os.path.join(d, f) for d, _, files in os.walk(root) for f in files)
    for path in paths:
        st = os.stat(path)
        digest.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def layout_splits(job_output: str, uri: str, required=()) -> list:
    """Move ``<job_output>/<split>/`` to ``<uri>/Split-<split>/`` and add empty folders for
    ``required`` splits the drop lacks (a drop of new training subjects has no validation
    records, and TFX wants every examples artifact to have the splits a trainer reads)."""
    splits = sorted(d for d in os.listdir(job_output)
                    if os.path.isdir(os.path.join(job_output, d)) and not d.startswith((".", "_")))
    if not splits:
        raise RuntimeError(f"the preprocessing job wrote no split folders under {job_output}")
    for split in splits:
        shutil.move(os.path.join(job_output, split), os.path.join(uri, f"Split-{split}"))
    for split in required:
        os.makedirs(os.path.join(uri, f"Split-{split}"), exist_ok=True)
    return sorted(set(splits) | set(required))


@tfx.dsl.components.component
def DropExampleGen(
    examples: tfx.dsl.components.OutputArtifact[Examples],
    dataset: tfx.dsl.components.Parameter[str],
    root: tfx.dsl.components.Parameter[str],
    fingerprint: tfx.dsl.components.Parameter[str] = "",
    beam_args: tfx.dsl.components.Parameter[str] = "[]",
    required_splits: tfx.dsl.components.Parameter[str] = "train,validation",
):
    """Preprocess the drop ``root`` of ``dataset`` into subject-independent split records."""
    from affect_tf.data.beam_job import run_preprocess

    job_output = os.path.join(examples.uri, "_job")
    run_preprocess(dataset, root, job_output, pipeline_args=tuple(json.loads(beam_args)))
    splits = layout_splits(job_output, examples.uri, [s for s in required_splits.split(",") if s])
    summary = os.path.join(job_output, "summary.json")
    if os.path.exists(summary):
        shutil.move(summary, os.path.join(examples.uri, "summary.json"))
    shutil.rmtree(job_output, ignore_errors=True)
    examples.split_names = artifact_utils.encode_split_names(splits)
    examples.set_string_custom_property("payload_format", PAYLOAD_FORMAT)
    examples.set_string_custom_property("dataset", dataset)
    examples.set_string_custom_property("drop_root", root)
    examples.set_string_custom_property("drop_fingerprint", fingerprint)
