"""What a pipeline run ended with, read from ML Metadata: the newest evaluation, blessing and
push; and the summary ``affect-tf run`` prints from it."""
from __future__ import annotations

import json
import os

from ml_metadata import metadata_store
from tfx.orchestration import metadata

from affect_tf.pipelines import configs


def latest_outcome(metadata_path: str, pipeline_name: str = configs.PIPELINE_NAME, type_prefix: str = "") -> dict:
    """Read ML Metadata for the newest evaluation, blessing and push of the pipeline
    (``type_prefix``: ``"tfx."`` where Kubeflow names the types by their schema titles)."""
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))

    def newest(type_name):
        found = store.get_artifacts_by_type(type_prefix + type_name)
        return max(found, key=lambda a: a.id) if found else None

    def prop(artifact, name):
        value = artifact.custom_properties.get(name)
        if value is None:
            return None
        return value.WhichOneof("value") and getattr(value, value.WhichOneof("value"))

    out = {}
    evaluation = newest("ModelEvaluation")
    if evaluation is not None:
        report = os.path.join(evaluation.uri, "report.json")
        out["report"] = report
        out["plot"] = os.path.join(evaluation.uri, "predictions.png")
        with open(report) as f:
            out["evaluation"] = json.load(f)
    pushes = [a for a in store.get_artifacts_by_type(type_prefix + "PushedModel") if prop(a, "pushed") == 1]
    latest_push = newest("PushedModel")
    out["pushed_now"] = bool(latest_push is not None and prop(latest_push, "pushed") == 1)
    if pushes:
        last = max(pushes, key=lambda a: a.id)
        out["pushed_version"] = int(prop(last, "pushed_version"))  # a double in Kubeflow's metadata
        out["pushed_path"] = prop(last, "pushed_destination")
    return out


def print_summary(metadata_path: str, type_prefix: str = "") -> dict:
    """Print the newest evaluation, blessing and served model recorded in ML Metadata."""
    outcome = latest_outcome(metadata_path, type_prefix=type_prefix)
    report = outcome.get("evaluation", {})
    if report:
        frame, utt = report["frame"], report["utterance"]
        print(f"  held-out CCC per frame: valence {frame['valence']['ccc']:.3f}, arousal "
              f"{frame['arousal']['ccc']:.3f}; per utterance: valence {utt['valence']['ccc']:.3f}, "
              f"arousal {utt['arousal']['ccc']:.3f}")
        print(f"  blessing: {'BLESSED' if report['blessing']['blessed'] else 'not blessed'} - "
              f"{report['blessing']['reason']}")
        print(f"  report: {outcome['report']}\n  plot:   {outcome['plot']}")
    if outcome.get("pushed_path"):
        state = "pushed by this run" if outcome["pushed_now"] else "unchanged (still serving)"
        print(f"  serving model: version {outcome['pushed_version']} at {outcome['pushed_path']} ({state})")
        base = os.path.dirname(outcome["pushed_path"])
        print("  query it:\n"
              f"    affect-tf serve {configs.SERVING_MODEL_NAME}={base} --port 8500 &\n"
              f"    affect-tf predict VIDEO.mp4 --server 127.0.0.1:8500 --out predictions/\n"
              f"  or without a server:\n    affect-tf predict VIDEO.mp4 --model {base} --out predictions/")
    else:
        print("  no model has been pushed yet (none was blessed)")
    return outcome
