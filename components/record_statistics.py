"""RecordStatisticsGen and RecordValidator: statistics and anomalies of the sequence records
(the maths: :mod:`affect_tf.data.record_statistics`).

TFX's StatisticsGen/SchemaGen/ExampleValidator describe flat ``tf.Example`` columns; our records
are ``SequenceExample``s with image bytes and 16k-float mel windows per frame, and the checks that
matter are per frame (face found, label known, label range). So these two components compute
them directly and store them in the standard ``ExampleStatistics`` and ``ExampleAnomalies``
artifact types (``<uri>/Split-<split>/stats.json`` and ``<uri>/anomalies.json``).
"""

import json
import os

from tfx import v1 as tfx
from tfx.types import artifact_utils

from affect_tf.data.record_statistics import compute_record_statistics, find_anomalies
from affect_tf.files import write_text_atomic
from affect_tf.components.artifacts import split_files

Examples = tfx.types.standard_artifacts.Examples
ExampleStatistics = tfx.types.standard_artifacts.ExampleStatistics
ExampleAnomalies = tfx.types.standard_artifacts.ExampleAnomalies


@tfx.dsl.components.component
def RecordStatisticsGen(
    examples: tfx.dsl.components.InputArtifact[Examples],
    statistics: tfx.dsl.components.OutputArtifact[ExampleStatistics],
):
    """Per-split record statistics (frames, face-found rate, label coverage and range, ...)."""
    splits = artifact_utils.decode_split_names(examples.split_names)
    for split in splits:
        stats = compute_record_statistics(split_files(examples.uri, split))
        write_text_atomic(os.path.join(statistics.uri, f"Split-{split}", "stats.json"),
                          json.dumps(stats, indent=2, sort_keys=True))
    statistics.split_names = artifact_utils.encode_split_names(splits)
    statistics.span = examples.span


@tfx.dsl.components.component
def RecordValidator(
    statistics: tfx.dsl.components.InputArtifact[ExampleStatistics],
    anomalies: tfx.dsl.components.OutputArtifact[ExampleAnomalies],
    min_face_rate: tfx.dsl.components.Parameter[float] = 0.5,
    max_masked_share: tfx.dsl.components.Parameter[float] = 0.5,
    fail_on_anomalies: tfx.dsl.components.Parameter[bool] = False,
):
    """Check every split's statistics; with ``fail_on_anomalies`` the run stops on any."""
    splits = artifact_utils.decode_split_names(statistics.split_names)
    report = {}
    for split in splits:
        with open(os.path.join(statistics.uri, f"Split-{split}", "stats.json")) as f:
            report[split] = find_anomalies(json.load(f), min_face_rate, max_masked_share)
    write_text_atomic(os.path.join(anomalies.uri, "anomalies.json"), json.dumps(report, indent=2, sort_keys=True))
    anomalies.split_names = artifact_utils.encode_split_names(splits)
    count = sum(len(v) for v in report.values())
    anomalies.set_int_custom_property("anomalies_found", count)
    if count and fail_on_anomalies:
        lines = [f"{split}: {a}" for split, found in report.items() for a in found]
        raise ValueError(f"record anomalies in {statistics.uri}:\n  " + "\n  ".join(lines))
