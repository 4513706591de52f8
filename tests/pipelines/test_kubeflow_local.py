"""The compiled Kubeflow V2 spec executed task by task as Kubeflow runs it (``affect-tf run
--runner kubeflow-local``): every task's own command from the spec, artifacts and metadata through
ML Metadata, the resolver queries; the same model as the LocalDagRunner run on the same drop;
a second run on a new drop warm-starts from the blessed model. A broken placeholder fails."""
import json
import os

import pytest
import yaml

from tests.pipelines.test_local_pipeline_e2e import FLOOR, MARGIN, SYNTHETIC, good_config

pytestmark = pytest.mark.tfx

CONTAINER_TASKS = {"DropExampleGen_0": "affect_tf.components.example_gen.DropExampleGen_Executor",
                   "RecordStatisticsGen_0": "affect_tf.components.record_statistics.RecordStatisticsGen_Executor",
                   "RecordValidator_0": "affect_tf.components.record_statistics.RecordValidator_Executor",
                   "Trainer": "tfx.components.trainer.executor.GenericExecutor",
                   "AffectEvaluator": "affect_tf.components.evaluator.AffectEvaluatorExecutor",
                   "ServingPusher": "affect_tf.components.pusher.ServingPusher_Executor"}
RESOLVERS = ("latest_blessed_model_resolver-model-blessing-resolver", "latest_blessed_model_resolver-model-resolver")


class KubeflowMetadata:
    """The emulation's ML Metadata: executions by task name, their input/output artifacts."""

    def __init__(self, path):
        from ml_metadata import metadata_store
        from tfx.orchestration import metadata

        self.store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(path))

    def executions(self):
        """[{task: execution}] per pipeline run, oldest first."""
        runs = sorted(self.store.get_contexts_by_type("system.PipelineRun"), key=lambda c: c.id)
        return [{e.custom_properties["task_name"].string_value: e for e in self.store.get_executions_by_context(c.id)}
                for c in runs]

    def artifacts(self, execution, key, kind):
        events = [e for e in self.store.get_events_by_execution_ids([execution.id])
                  if e.type == kind and e.path.steps[0].key == key]
        return self.store.get_artifacts_by_id([e.artifact_id for e in events])

    def value(self, artifact, name):
        value = artifact.custom_properties[name]
        return getattr(value, value.WhichOneof("value"))


def _main(args, capsys):
    from affect_tf.cli import main

    code = main(["run", "--runner", "kubeflow-local", *args])
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    with capsys.disabled():  # the whole output, for the record (pytest -s); not into the next run's
        print(out)
    return out


@pytest.mark.heavy  # many minutes on an idle 2-core machine: on demand, not in CI
@pytest.mark.timeout(3600)  # with the LocalDagRunner run it may set up; a loaded 2-core machine is slow
def test_kubeflow_spec_runs_like_the_local_runner_and_warm_starts(first_run, tmp_path, capsys, monkeypatch):
    from ml_metadata.proto import metadata_store_pb2 as pb

    from affect_tf.presets import MODEL_MODULES_ENV
    from affect_tf.pipelines import drops, kubeflow_local

    monkeypatch.setenv(MODEL_MODULES_ENV, "tests.pipelines.tiny_av_model")  # the pods import the test model
    work = str(tmp_path / "work")
    paths = kubeflow_local.kubeflow_paths(work)
    serving = paths["serving"]
    common = ["--work-dir", work, "--margin", MARGIN, "--floor", FLOOR]

    # --- run 1 on the LocalDagRunner run's drop: the same model, blessed and pushed ---------------
    out = _main([*common, "--drop", f"affwild2={first_run['paths']['drop']}",
                 "--train-config", str(first_run["config_file"])], capsys)
    assert "[3/3] done" in out and "blessing: BLESSED" in out
    assert f"serving model: version 1 at {os.path.join(serving, '1')} (pushed by this run)" in out
    md = KubeflowMetadata(paths["metadata"])
    [run1] = md.executions()
    assert set(run1) == set(CONTAINER_TASKS)
    assert all(e.last_known_state == pb.Execution.COMPLETE for e in run1.values())
    spec = yaml.safe_load(open(paths["spec"]))
    assert set(spec["root"]["dag"]["tasks"]) == set(CONTAINER_TASKS) | set(RESOLVERS)
    for task, executor in CONTAINER_TASKS.items():  # each pod ran the spec's entrypoint on its executor
        assert f"[8/8]" in out and f"] {task} complete" in out, task
        [task_root] = {os.path.dirname(a.uri) for a in md.store.get_artifacts_by_id(
            [e.artifact_id for e in md.store.get_events_by_execution_ids([run1[task].id])
             if e.type == pb.Event.OUTPUT])}
        log = open(os.path.join(task_root, "pod.log")).read()
        assert "kubeflow_v2_run_executor" in log or f"Executor {executor} do" in log, (task, log[-2000:])
        assert json.load(open(os.path.join(task_root, "executor_output.json")))["artifacts"], task
    [evaluation] = md.artifacts(run1["AffectEvaluator"], "evaluation", pb.Event.OUTPUT)
    report = json.load(open(os.path.join(evaluation.uri, "report.json")))
    assert report["score"]["value"] == pytest.approx(first_run["report"]["score"]["value"], abs=1e-6)
    for dim in ("valence", "arousal"):
        assert report["frame"][dim]["ccc"] == pytest.approx(first_run["report"]["frame"][dim]["ccc"], abs=1e-6)
    assert report["baseline"] is None  # nothing was blessed in this store yet: the resolvers found none
    assert md.artifacts(run1["Trainer"], "base_model", pb.Event.INPUT) == []
    [model1] = md.artifacts(run1["Trainer"], "model", pb.Event.OUTPUT)
    [blessing1] = md.artifacts(run1["AffectEvaluator"], "blessing", pb.Event.OUTPUT)
    assert md.value(blessing1, "blessed") == 1
    assert sorted(os.listdir(serving)) == ["1"] and os.path.exists(os.path.join(serving, "1", "saved_model.pb"))

    # --- run 2: another drop_root (a new release): warm start from the blessed model ------------
    new_drop = drops.ensure_synthetic_drop(str(tmp_path / "drop-v2"), **{**SYNTHETIC, "seed": 1})
    config_file = tmp_path / "train_config.json"
    config_file.write_text(good_config().replace(epochs=2).to_json())
    out = _main([*common, "--drop", f"affwild2={new_drop}", "--train-config", str(config_file)], capsys)
    run2 = md.executions()[-1]
    [examples2] = md.artifacts(run2["DropExampleGen_0"], "examples", pb.Event.OUTPUT)
    assert md.value(examples2, "drop_root") == new_drop  # the runtime parameter reached the component
    [base_model] = md.artifacts(run2["Trainer"], "base_model", pb.Event.INPUT)
    assert base_model.id == model1.id  # the blessed model, found by the resolvers' ML Metadata queries
    [model_run2] = md.artifacts(run2["Trainer"], "model_run", pb.Event.OUTPUT)
    assert json.load(open(os.path.join(model_run2.uri, "train_config.json")))["warm_start"]
    [evaluation2] = md.artifacts(run2["AffectEvaluator"], "evaluation", pb.Event.OUTPUT)
    report2 = json.load(open(os.path.join(evaluation2.uri, "report.json")))
    [blessing2] = md.artifacts(run2["AffectEvaluator"], "blessing", pb.Event.OUTPUT)
    [pushed2] = md.artifacts(run2["ServingPusher"], "pushed_model", pb.Event.OUTPUT)
    # the rule the local runner applies: the floor, and the margin over the blessed model on the same records
    score, baseline = report2["score"]["value"], report2["baseline"]["score"]["value"]
    blessed = score >= float(FLOOR) and score >= baseline + float(MARGIN)
    assert md.value(blessing2, "blessed") == blessed == report2["blessing"]["blessed"]
    assert md.value(pushed2, "pushed") == blessed
    assert sorted(os.listdir(serving)) == (["1", "2"] if blessed else ["1"])
    assert ("blessing: BLESSED" in out) == blessed


@pytest.mark.timeout(600)
def test_a_broken_placeholder_fails_its_task_with_a_clear_message(tmp_path):
    from affect_tf.pipelines import kubeflow_local, kubeflow_v2_runner

    spec_path = tmp_path / "pipeline.yaml"
    kubeflow_v2_runner.compile_pipeline(str(spec_path), pipeline_root=str(tmp_path / "root"), drop_root="/drops/v1",
                                        serving_dir=str(tmp_path / "serving"), train_config={"type": "TrainConfig"})
    spec = yaml.safe_load(spec_path.read_text())
    args = spec["deploymentSpec"]["executors"]["DropExampleGen_0_executor"]["container"]["args"]
    args[args.index("{{$}}")] = "{{$.inputs.parameters['drop_root']}}"  # the pipeline's name, not the task's
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(spec))
    parameters = {"drop_root": "/drops/v1", "serving_dir": str(tmp_path / "serving")}
    with pytest.raises(kubeflow_local.KubeflowLocalError,
                       match=r"^task DropExampleGen_0: placeholder \{\{\$\.inputs\.parameters\['drop_root'\]\}\}: "
                             r"no input parameter 'drop_root' \(the task has: beam_args, dataset, fingerprint, "
                             r"required_splits, root\)$"):
        kubeflow_local.run_spec(str(broken), str(tmp_path / "root"), str(tmp_path / "metadata.sqlite"), parameters)
    # a form Kubeflow does not know, and a runtime parameter without a value
    args[args.index("{{$.inputs.parameters['drop_root']}}")] = "{{$.inputs.parameter['root']}}"
    broken.write_text(yaml.safe_dump(spec))
    with pytest.raises(kubeflow_local.KubeflowLocalError, match=r"is not one Kubeflow resolves"):
        kubeflow_local.run_spec(str(broken), str(tmp_path / "root"), str(tmp_path / "metadata.sqlite"), parameters)
    with pytest.raises(kubeflow_local.KubeflowLocalError, match="runtime parameter 'serving_dir' has no value"):
        kubeflow_local.run_spec(str(spec_path), str(tmp_path / "root"), str(tmp_path / "metadata.sqlite"),
                                {"drop_root": "/drops/v1"})


def test_the_latest_blessed_model_resolvers_queries_on_ml_metadata(tmp_path):
    """The two resolver filters the TFX compiler writes, run on a store holding what the launcher
    records: the newest blessed blessing, then the model it names; strict on unknown fields."""
    from affect_tf.pipelines.kubeflow_local import KubeflowLocalError, MetadataStore, resolve_placeholders

    store = MetadataStore(str(tmp_path / "metadata.sqlite"), "run-1")
    models = [store.record_artifact("tfx.Model", f"/models/{i}", {}, "model") for i in range(3)]
    for i, (model, blessed) in enumerate(zip(models, (1, 1, 0))):
        store.record_artifact("tfx.ModelBlessing", f"/blessings/{i}",
                              {"blessed": blessed, "current_model_id": MetadataStore.artifact_name(model)}, "blessing")
    blessings = store.query("r", 'schema_title="tfx.ModelBlessing" AND state=LIVE AND metadata.blessed.number_value=1')
    assert [store.runtime_artifact(b, {})["uri"] for b in blessings] == ["/blessings/1", "/blessings/0"]
    executor_input = {"inputs": {"artifacts": {"input": {"artifacts": [store.runtime_artifact(blessings[0], {})]}}}}
    query = resolve_placeholders("r", 'schema_title="tfx.Model" AND state=LIVE AND '
                                 'name="{{$.inputs.artifacts[\'input\'].metadata[\'current_model_id\']}}"', executor_input)
    assert store.query("r", query) == [models[1]]
    with pytest.raises(KubeflowLocalError, match="has no metadata 'current_model'"):
        resolve_placeholders("r", "{{$.inputs.artifacts['input'].metadata['current_model']}}", executor_input)
    with pytest.raises(KubeflowLocalError, match="filter field 'uri'"):
        store.query("r", 'schema_title="tfx.Model" AND uri="/models/1"')
    with pytest.raises(KubeflowLocalError, match="clause 'create_time>0' is not FIELD=VALUE"):
        store.query("r", 'schema_title="tfx.Model" AND create_time>0')
