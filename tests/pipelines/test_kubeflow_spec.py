"""The Kubeflow V2 runner compiles the pipeline to a spec that names every component, the image
and the runtime parameters; the image installs the tested versions and has the spec's entrypoint."""
import importlib
import importlib.metadata
import json
import pathlib
import re
import sys

import pytest
import yaml

pytestmark = pytest.mark.tfx

IMAGE = "example.org/affect-tf-pipeline:test"


@pytest.fixture(scope="module")
def yaml_spec(tmp_path_factory):
    return yaml.safe_load(_compile(tmp_path_factory.mktemp("spec"), "pipeline.yaml").read_text())


def _compile(tmp_path, name):
    from affect_tf.pipelines import kubeflow_v2_runner

    out = tmp_path / name
    kubeflow_v2_runner.compile_pipeline(
        str(out), pipeline_root=str(tmp_path / "root"), drop_root="gs://bucket/drops/affwild2-v1",
        serving_dir="gs://bucket/serving/affect", train_config={"type": "TrainConfig", "epochs": 1},
        image=IMAGE,
    )
    return out


def test_yaml_pipeline_spec_has_components_image_and_parameters(yaml_spec):
    spec = yaml_spec
    assert spec["pipelineInfo"]["name"] == "affect-tf"
    tasks = spec["root"]["dag"]["tasks"]
    expected = {"DropExampleGen_0", "RecordStatisticsGen_0", "RecordValidator_0", "Trainer",
                "AffectEvaluator", "ServingPusher"}
    assert expected <= set(tasks), sorted(tasks)
    assert any("latest_blessed_model_resolver" in t for t in tasks)
    executors = spec["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values() if "container" in e}
    assert images == {IMAGE}
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {"drop_root", "serving_dir"} <= set(params)
    # the trainer runs our run_fn with the train config; the pusher gets the serving runtime parameter
    text = json.dumps(spec)
    assert "affect_tf.training.tfx_run_fn.run_fn" in text
    for executor in ("example_gen.DropExampleGen_Executor", "record_statistics.RecordStatisticsGen_Executor",
                     "record_statistics.RecordValidator_Executor", "evaluator.AffectEvaluatorExecutor",
                     "pusher.ServingPusher_Executor"):
        assert f"affect_tf.components.{executor}" in text, executor
    pusher_inputs = tasks["ServingPusher"]["inputs"]["parameters"]["base_directory"]
    assert "serving_dir" in json.dumps(pusher_inputs)
    gen_inputs = tasks["DropExampleGen_0"]["inputs"]["parameters"]["root"]
    assert "drop_root" in json.dumps(gen_inputs)


def test_json_output_is_a_vertex_pipeline_job(tmp_path):
    job = json.loads(_compile(tmp_path, "pipeline.json").read_text())
    assert job["displayName"] == "affect-tf", list(job)
    assert "pipelineSpec" in job and "DropExampleGen_0" in job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert job["runtimeConfig"]["gcsOutputDirectory"] == str(tmp_path / "root")


def test_image_installs_the_tested_versions_and_has_the_specs_entrypoint(yaml_spec):
    """pipelines/Dockerfile: the Python of the environment the tests run in, every pin of
    constraints/primary.txt installed as it is here, and the spec's container command importable."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    dockerfile = (repo / "pipelines" / "Dockerfile").read_text()
    python = re.search(r"^FROM python:(\d+\.\d+)", dockerfile, re.M).group(1)
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}"
    install = re.sub(r"\\\n\s*", " ", dockerfile)
    assert re.search(r"pip install [^\n]*-r constraints/primary\.txt -c constraints/primary\.txt", install)
    assert "COPY constraints/ constraints/" in dockerfile
    pins = [line.split("#")[0].strip() for line in (repo / "constraints" / "primary.txt").read_text().splitlines()]
    pins = [p for p in pins if p]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", p) for p in pins), pins
    installed = {name: importlib.metadata.version(name) for name, _ in (p.split("==") for p in pins)}
    assert installed == dict(p.split("==") for p in pins)
    commands = {tuple(e["container"]["command"]) for e in yaml_spec["deploymentSpec"]["executors"].values()
                if "container" in e}
    assert len(commands) == 1
    [(program, flag, module)] = commands
    assert (program, flag) == ("python", "-m")
    assert module == "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
    assert callable(importlib.import_module(module).main)
