"""The TFJob manifest: rendered, printed as YAML, checked against the rules of the Training
Operator's kubeflow.org/v1 TFJob resource, and its command parsed by ``affect-tf train`` itself."""
import argparse
import re

import pytest
import yaml

from affect_tf.commands import train as train_cli
from affect_tf.training import distribute
from affect_tf.pipelines import tfjob

QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")  # Kubernetes resource quantities


def _check_tfjob(job):
    """The parts of the v1 TFJob schema (and of a pod spec) the operator and the API server enforce."""
    assert set(job) == {"apiVersion", "kind", "metadata", "spec"}
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "TFJob")
    assert tfjob.DNS_LABEL.match(job["metadata"]["name"]) and tfjob.DNS_LABEL.match(job["metadata"]["namespace"])
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] in ("None", "Running", "All")
    replica_specs = job["spec"]["tfReplicaSpecs"]
    assert replica_specs and set(replica_specs) <= {"Chief", "Master", "Worker", "PS", "Evaluator"}
    for spec in replica_specs.values():
        assert isinstance(spec["replicas"], int) and spec["replicas"] >= 1
        assert spec["restartPolicy"] in ("Always", "OnFailure", "Never", "ExitCode")
        pod = spec["template"]["spec"]
        [container] = [c for c in pod["containers"] if c["name"] == "tensorflow"]
        assert container["image"] and all(isinstance(a, str) for a in container["command"] + container["args"])
        for quantities in container["resources"].values():
            assert all(isinstance(q, str) and QUANTITY.match(q) for q in quantities.values()), quantities
        volumes = {v["name"] for v in pod["volumes"]}
        assert {m["name"] for m in container["volumeMounts"]} <= volumes
    return replica_specs


def test_rendered_tfjob_is_valid_yaml_and_runs_affect_tf_train(capsys):
    assert tfjob.main(["--name", "affect-run1", "--workers", "3", "--gpus", "1", "--image", "example.org/affect:1",
                       "--records", "/data/records/drop1", "--out", "/data/runs/run1", "--",
                       "--preset", "cnn_3rnn_2ndpool_lastpool_fc", "--batch-size", "12"]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    specs = _check_tfjob(job)
    worker = specs["Worker"]
    assert worker["replicas"] == 3
    [container] = worker["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["command"] == ["affect-tf", "train"]
    parser = argparse.ArgumentParser()
    train_cli.register(parser)
    args = parser.parse_args(container["args"])
    assert (args.strategy, args.records, args.out, args.batch_size) == (
        "multi_worker_mirrored", "/data/records/drop1", "/data/runs/run1", 12)
    # TF_CONFIG as the operator sets it in each pod: worker 0 alone is the chief
    hosts = [f"affect-run1-worker-{i}.default.svc:2222" for i in range(3)]
    chiefs = [distribute.is_chief({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
              for i in range(3)]
    assert chiefs == [True, False, False]
    cpu_only = tfjob.render_tfjob("cpu-run", "img", "/data/r", "/data/o")
    assert "nvidia.com/gpu" not in cpu_only["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    _check_tfjob(yaml.safe_load(yaml.safe_dump(cpu_only)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="Affect_Run"), "lower-case"),
    (dict(workers=0), "workers must be >= 1"),
    (dict(out="gs://bucket/run"), "shared volume"),
])
def test_bad_tfjob_settings_are_refused(kwargs, message):
    settings = {**dict(name="run", image="img", records="/data/r", out="/data/o"), **kwargs}
    with pytest.raises(ValueError, match=message):
        tfjob.render_tfjob(settings.pop("name"), settings.pop("image"), settings.pop("records"),
                           settings.pop("out"), **settings)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_tfjob_manifest_trains_with_two_local_workers(tmp_path, capsys):
    """The printed TFJob executed as the Training Operator runs it (kubeflow_local.run_tfjob):
    both workers exit 0, the chief (worker 0) writes the model into the run folder on the shared
    volume, worker 1 only its scratch copy."""
    import keras

    from affect_tf.training import TrainConfig
    from affect_tf.pipelines import kubeflow_local
    from tests.distributed.test_multi_worker import TINY_CNN_RNN, _write_records

    volume = tmp_path / "volume"
    _write_records(volume / "records")
    config = TrainConfig(model=TINY_CNN_RNN, optimizer="sgd", learning_rate=0.05, epochs=1, batch_size=4, window=4,
                         shuffle=False, tensorboard=False, early_stopping_patience=0)
    (volume / "train_config.json").write_text(config.to_json())
    assert tfjob.main(["--name", "affect-run1", "--image", "example.org/affect:1", "--records", "/data/records",
                       "--out", "/data/runs/run1", "--", "--config", "/data/train_config.json"]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    replicas = kubeflow_local.run_tfjob(job, str(volume), str(tmp_path / "pods"), timeout=1100)
    logs = {r["index"]: open(r["log"]).read()[-3000:] for r in replicas}
    assert [(r["type"], r["index"], r["exit_code"]) for r in replicas] == [("worker", 0, 0), ("worker", 1, 0)], logs
    run = volume / "runs" / "run1"
    model = keras.saving.load_model(run / "model.keras")
    assert model.count_params() > 0
    assert (run / "metrics.json").exists() and not (run / "backup").exists()
    # worker 1 saved its copy in its own pod's temp dir, not on the volume
    assert str(tmp_path / "pods" / "affect-run1-worker-1") in logs[1]
    assert str(run) in logs[0]
