"""End to end: the local TFX pipeline on a small synthetic drop, three runs on one work dir.

1. Through the main-job command (``affect-tf run``): every component executes, ML Metadata
   records the artifacts, held-out CCC >= 0.7, blessed and pushed as version 1 (the report's CCC
   is re-checked here with numpy on the pushed model), and the command says where things are.
2. A deliberately worse trainer config: evaluated against the blessed model, NOT blessed, and the
   served versions do not change; the unchanged drop's steps come from the cache.
3. A new drop with one more subject: the first drop's steps come from the cache, the trainer
   warm-starts from the blessed model.
"""
import glob
import json
import os
import re

import numpy as np
import pytest

from tests.pipelines.tiny_av_model import TinyAvConfig

pytestmark = [pytest.mark.tfx, pytest.mark.slow]

SYNTHETIC = {"n_subjects": 6, "n_videos_per_subject": 1, "seconds": 4.0}
NODES = ("DropExampleGen_0", "RecordStatisticsGen_0", "RecordValidator_0", "Trainer",
         "AffectEvaluator", "ServingPusher")
COMPLETE, CACHED = 3, 5  # ml_metadata Execution.State


def good_config():
    from affect_tf.training.config import TrainConfig

    return TrainConfig(model=TinyAvConfig(units=16, face_pool=24), epochs=12, window=16, batch_size=4,
                       learning_rate=0.01, early_stopping_patience=0)


class Metadata:
    """Per-run view of the pipeline's ML Metadata store."""

    def __init__(self, path):
        from ml_metadata import metadata_store
        from tfx.orchestration import metadata

        self.store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(path))

    def runs(self):
        """[{node id: execution}] per pipeline run, oldest first."""
        out = []
        for ctx in sorted(self.store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id):
            nodes = {}
            for execution in self.store.get_executions_by_context(ctx.id):
                for node_ctx in self.store.get_contexts_by_execution(execution.id):
                    if node_ctx.name.startswith("affect-tf.") and node_ctx.type_id == self._node_type():
                        nodes[node_ctx.name.split(".", 1)[1]] = execution
            out.append(nodes)
        return out

    def _node_type(self):
        return self.store.get_context_type("node").id

    def outputs(self, execution, key):
        events = [e for e in self.store.get_events_by_execution_ids([execution.id])
                  if e.type in (e.OUTPUT, e.DECLARED_OUTPUT)
                  and any(s.HasField("key") and s.key == key for s in e.path.steps)]
        return self.store.get_artifacts_by_id([e.artifact_id for e in events])

    def inputs(self, execution, key):
        events = [e for e in self.store.get_events_by_execution_ids([execution.id])
                  if e.type == e.INPUT and any(s.HasField("key") and s.key == key for s in e.path.steps)]
        return self.store.get_artifacts_by_id([e.artifact_id for e in events])


def prop(artifact, name):
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))


def numpy_ccc(x, y):
    return 2 * np.mean((x - x.mean()) * (y - y.mean())) / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


MARGIN, FLOOR = "0.02", "0.5"  # the CLI options of run 1 (tests/pipelines/conftest.py: first_run)


def test_bless_reject_and_retrain_on_a_new_drop(first_run):
    from affect_tf.pipelines import configs, drops
    from affect_tf.pipelines.local_runner import run_local
    from affect_tf.pipelines.pipeline import Drop

    work, paths = first_run["work"], first_run["paths"]
    first = [Drop("affwild2", paths["drop"])]
    evaluation = dict(configs.EVALUATION, margin=float(MARGIN), floor=float(FLOOR))  # what the CLI passes
    serving = paths["serving"]

    # --- run 1, the main job: blessed and pushed -------------------------------------------
    out, err = first_run["out"], first_run["err"]
    # no library warning (Keras' "input ran out of data", tf.data's "deterministic" argument ...)
    assert first_run["warnings"] == [] and "WARNING" not in err, (first_run["warnings"], err[-2000:])
    assert "[1/3] synthetic drop" in out and "[3/3] done" in out
    # the progress bar over the components: one step per finished one, named
    assert re.search(r"run: 100%\|█+\| (\d+)/\1 \[", err), err[-2000:]
    for node in NODES:
        assert f", {node}]" in err and f", {node} finished]" in err, node
    # while the Trainer runs, the bar says which epoch it is on and the last validation CCC
    assert re.search(r", Trainer: train epoch 12/12, val_mean_ccc -?\d\.\d{3}\]", err), err[-2000:]
    # TensorBoard logs, as affect-tf train writes them
    assert glob.glob(os.path.join(work, "tfx", "Trainer", "model_run", "*", "**", "events.out.tfevents.*"),
                     recursive=True)
    assert "blessing: BLESSED" in out
    assert f"serving model: version 1 at {os.path.join(serving, '1')} (pushed by this run)" in out
    assert f"affect-tf serve affect={serving}" in out and "affect-tf predict VIDEO.mp4" in out
    md = Metadata(paths["metadata"])
    (run1,) = md.runs()
    assert set(NODES) <= set(run1), sorted(run1)
    assert all(run1[n].last_known_state == COMPLETE for n in NODES)
    for type_name in ("Examples", "ExampleStatistics", "ExampleAnomalies", "Model", "ModelRun",
                      "ModelEvaluation", "ModelBlessing", "PushedModel"):
        artifacts = md.store.get_artifacts_by_type(type_name)
        assert artifacts and all(os.path.exists(a.uri) for a in artifacts), type_name
    (examples,) = md.outputs(run1["DropExampleGen_0"], "examples")
    assert json.loads(examples.properties["split_names"].string_value) == ["train", "validation"]
    (anomalies,) = md.outputs(run1["RecordValidator_0"], "anomalies")
    assert prop(anomalies, "anomalies_found") == 0
    (stats,) = md.outputs(run1["RecordStatisticsGen_0"], "statistics")
    train_stats = json.load(open(os.path.join(stats.uri, "Split-train", "stats.json")))
    assert train_stats["recordings"] == 4 and train_stats["face_found_rate"] > 0.9

    (evaluation1,) = md.outputs(run1["AffectEvaluator"], "evaluation")
    report = json.load(open(os.path.join(evaluation1.uri, "report.json")))
    mean_ccc = report["score"]["value"]
    assert f"report: {os.path.join(evaluation1.uri, 'report.json')}" in out
    assert f"arousal {report['frame']['arousal']['ccc']:.3f}" in out
    assert report["score"]["metric"] == "ccc" and mean_ccc >= 0.7, report["frame"]
    assert report["baseline"] is None and report["blessing"]["blessed"]
    assert os.path.getsize(os.path.join(evaluation1.uri, "predictions.png")) > 1000
    (blessing1,) = md.outputs(run1["AffectEvaluator"], "blessing")
    (model1,) = md.outputs(run1["Trainer"], "model")
    assert prop(blessing1, "blessed") == 1 and prop(blessing1, "current_model_id") == model1.id
    (pushed1,) = md.outputs(run1["ServingPusher"], "pushed_model")
    assert prop(pushed1, "pushed") == 1 and prop(pushed1, "pushed_version") == 1
    assert sorted(os.listdir(serving)) == ["1"]
    assert os.path.exists(os.path.join(serving, "1", "saved_model.pb"))

    # The report's CCC, recomputed with numpy from the pushed model on the held-out records, after
    # the median filter whose windows the trainer chose and stored in the export metadata.
    from scipy import ndimage

    from affect_tf import evaluation as ev
    from affect_tf import evaluation_io, export

    window = export.read_metadata(os.path.join(serving, "1"))["median_window"]
    assert list(report["config"]["median_window"]) == window
    files = sorted(glob.glob(os.path.join(examples.uri, "Split-validation", "*.tfrecord*")))
    recs = ev.collect_predictions(evaluation_io.saved_model_predictor(os.path.join(serving, "1")),
                                  evaluation_io.record_batches(files))
    assert {r.recording_id for r in recs} == {"synth_s04_v0", "synth_s05_v0"}  # held-out subjects
    pred = np.concatenate([np.stack([ndimage.median_filter(r.predictions[:, d], window[d], mode="nearest")
                                     for d in range(2)], -1) for r in recs])
    labels = np.concatenate([r.labels for r in recs])
    cccs = [numpy_ccc(pred[:, d], labels[:, d]) for d in range(2)]
    assert np.mean(cccs) == pytest.approx(mean_ccc, abs=1e-4)

    # --- run 2: a deliberately worse trainer is not blessed; nothing is pushed ---------------
    worse = good_config().replace(epochs=1, learning_rate=1e-6)
    run_local(work, first, worse, evaluation_config=evaluation, warm_start=False)
    run2 = md.runs()[-1]
    assert run2["DropExampleGen_0"].last_known_state == CACHED
    assert run2["Trainer"].last_known_state == COMPLETE
    (evaluation2,) = md.outputs(run2["AffectEvaluator"], "evaluation")
    report2 = json.load(open(os.path.join(evaluation2.uri, "report.json")))
    assert report2["baseline"]["score"]["value"] == pytest.approx(mean_ccc, abs=1e-6)  # same data, same model
    assert report2["score"]["value"] < mean_ccc
    (blessing2,) = md.outputs(run2["AffectEvaluator"], "blessing")
    assert prop(blessing2, "blessed") == 0
    assert os.path.exists(os.path.join(blessing2.uri, "NOT_BLESSED"))
    (pushed2,) = md.outputs(run2["ServingPusher"], "pushed_model")
    assert prop(pushed2, "pushed") == 0
    assert sorted(os.listdir(serving)) == ["1"]

    # --- run 3: one more subject in a new drop: cache for the old drop, warm start ----------
    extra = drops.new_subjects_drop(paths["drop"], paths["drop"] + "-plus1", 1, **SYNTHETIC)
    run_local(work, first + [Drop("affwild2", extra)], good_config().replace(epochs=4),
              evaluation_config=evaluation)
    run3 = md.runs()[-1]
    for node in ("DropExampleGen_0", "RecordStatisticsGen_0", "RecordValidator_0"):
        assert run3[node].last_known_state == CACHED, node
    assert run3["DropExampleGen_1"].last_known_state == COMPLETE
    (examples_new,) = md.outputs(run3["DropExampleGen_1"], "examples")
    new_ids = [os.path.basename(f) for f in glob.glob(os.path.join(examples_new.uri, "Split-train", "*"))]
    assert len(new_ids) == 1 and new_ids[0].startswith("synth_s06_v0")
    assert run3["Trainer"].last_known_state == COMPLETE
    (base_model,) = md.inputs(run3["Trainer"], "base_model")
    assert base_model.id == model1.id  # the blessed (and pushed) model, not run 2's
    (model3,) = md.outputs(run3["Trainer"], "model")
    (model_run3,) = md.outputs(run3["Trainer"], "model_run")
    train_config3 = json.load(open(os.path.join(model_run3.uri, "train_config.json")))
    assert train_config3["warm_start"], "run_fn did not warm-start from the base model"
    (evaluation3,) = md.outputs(run3["AffectEvaluator"], "evaluation")
    report3 = json.load(open(os.path.join(evaluation3.uri, "report.json")))
    assert report3["baseline"] is not None
    (blessing3,) = md.outputs(run3["AffectEvaluator"], "blessing")
    (pushed3,) = md.outputs(run3["ServingPusher"], "pushed_model")
    # pushed exactly when blessed, as the next version
    assert prop(pushed3, "pushed") == prop(blessing3, "blessed")
    assert sorted(os.listdir(serving)) == (["1", "2"] if prop(blessing3, "blessed") else ["1"])
