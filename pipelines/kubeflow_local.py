"""Execute the compiled Kubeflow V2 pipeline spec here, task by task, as Kubeflow would run it.

No cluster runs here, so this module plays the parts of Kubeflow Pipelines that sit around the
containers: the **driver** (walks the DAG in dependency order, resolves each task's inputs from
its upstream tasks' outputs as recorded in ML Metadata, runs resolver queries against ML
Metadata, builds the executor input) and the **launcher** (runs the container's own command and
arguments from the spec, reads the executor's output metadata file back and records the output
artifacts in ML Metadata). The **pod** is a subprocess of the project's environment with the
image's environment variables (``pipelines/Dockerfile``'s ``ENV``, ``/pipeline`` being this
checkout). What runs inside is real: TFX's Kubeflow V2 container entrypoint, each component's
executor, its arguments, artifact URIs and metadata, exactly as the spec gives them.

Strict where Kubeflow is strict: a placeholder the spec uses that Kubeflow would not resolve
(unknown form, unknown input, missing metadata key), a runtime parameter without a value, an
executor kind or a trigger condition this emulation does not know, a task that exits non-zero or
writes no output metadata: each stops the run with a one-line message naming the task.

Also here: :func:`run_tfjob` runs a Kubeflow Training Operator ``TFJob`` manifest's replicas as
local processes with the ``TF_CONFIG`` the operator would set.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time
import uuid

from affect_tf.pipelines import configs

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "pipelines" / "Dockerfile"
IMAGE_ROOT = "/pipeline"  # the Dockerfile's WORKDIR: where the checkout lies in the image
PLACEHOLDER = re.compile(r"\{\{\$(.*?)\}\}")
# {{$.inputs.parameters['x']}}, {{$.inputs.artifacts['x'].uri}}, {{$.inputs.artifacts['x'].metadata['k']}},
# {{$.outputs.artifacts['x'].uri}}: the forms the KFP backend substitutes ({{$}} is the executor input)
PLACEHOLDER_FORMS = re.compile(
    r"^\.(?P<side>inputs|outputs)\.(?P<kind>parameters|artifacts)\['(?P<key>[^']+)'\]"
    r"(?:\.(?P<field>uri|metadata\['(?P<meta>[^']+)'\]))?$")


class KubeflowLocalError(RuntimeError):
    """The spec cannot run as Kubeflow would run it (a task's name leads the message)."""


def image_environment(dockerfile: pathlib.Path = DOCKERFILE) -> dict:
    """The ``ENV`` the image sets (``pipelines/Dockerfile``), with the image's checkout folder
    mapped onto this one."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for name, value in re.findall(r"(\w+)=(\S+)", line[4:]):
                env[name] = value.replace(IMAGE_ROOT, str(REPO))
    return env


def _schema_title(artifact_type: dict) -> str:
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    import yaml

    return yaml.safe_load(artifact_type["instanceSchema"])["title"]


def _value_to_mlmd(value, target):
    """A metadata value as the KFP launcher stores it: numbers as doubles, strings as strings,
    anything else as a struct (a list or a bool wrapped as ``{"value": ...}``)."""
    if isinstance(value, str):
        target.string_value = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        target.double_value = float(value)
    else:
        target.struct_value.update(value if isinstance(value, dict) else {"value": value})


def _value_from_mlmd(value):
    from google.protobuf import json_format

    kind = value.WhichOneof("value")
    if kind == "struct_value":
        found = json_format.MessageToDict(value.struct_value)
        return found.get("value", found) if set(found) == {"value"} else found
    return getattr(value, kind)


class MetadataStore:
    """ML Metadata (SQLite) as Kubeflow's driver and launcher use it: artifacts typed by their
    schema title (``tfx.Model``), metadata as custom properties, one execution per task with its
    input and output events, all in one pipeline-run context."""

    def __init__(self, path: str, run_name: str):
        from ml_metadata import metadata_store
        from ml_metadata.proto import metadata_store_pb2 as pb

        self.pb = pb
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        run_type = self._type(pb.ContextType, "system.PipelineRun", self.store.put_context_type)
        self.run_context = pb.Context(type_id=run_type, name=run_name)
        [self.run_context.id] = self.store.put_contexts([self.run_context])

    def _type(self, cls, name, put):
        return put(cls(name=name))

    @staticmethod
    def artifact_name(artifact_id: int) -> str:
        return f"metadataStores/default/artifacts/{artifact_id}"

    def record_artifact(self, schema_title: str, uri: str, metadata: dict, display_name: str) -> int:
        pb = self.pb
        type_id = self._type(pb.ArtifactType, schema_title, self.store.put_artifact_type)
        artifact = pb.Artifact(type_id=type_id, uri=uri, state=pb.Artifact.LIVE)
        for key, value in metadata.items():
            _value_to_mlmd(value, artifact.custom_properties[key])
        artifact.custom_properties["display_name"].string_value = display_name
        [artifact_id] = self.store.put_artifacts([artifact])
        return artifact_id

    def runtime_artifact(self, artifact_id: int, artifact_type: dict) -> dict:
        """An artifact as the driver hands it to a consumer (name, type, uri, metadata)."""
        [artifact] = self.store.get_artifacts_by_id([artifact_id])
        metadata = {k: _value_from_mlmd(v) for k, v in artifact.custom_properties.items() if k != "display_name"}
        return {"name": self.artifact_name(artifact.id), "type": artifact_type, "uri": artifact.uri,
                "metadata": metadata}

    def record_execution(self, task: str, state: str, inputs: dict, outputs: dict) -> int:
        """``inputs``/``outputs``: {key: [artifact id]}."""
        pb = self.pb
        type_id = self._type(pb.ExecutionType, "system.ContainerExecution", self.store.put_execution_type)
        execution = pb.Execution(type_id=type_id, last_known_state=getattr(pb.Execution, state))
        execution.custom_properties["task_name"].string_value = task
        events = []
        for kind, artifacts in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
            for key, ids in artifacts.items():
                for i, artifact_id in enumerate(ids):
                    event = pb.Event(artifact_id=artifact_id, type=kind)
                    event.path.steps.add().key = key
                    event.path.steps.add().index = i
                    events.append(event)
        execution_id, _, _ = self.store.put_execution(execution, [(None, e) for e in events], [self.run_context])
        return execution_id

    def query(self, task: str, query: str) -> list[int]:
        """The artifact ids matching a resolver's filter (the clauses the TFX compiler writes:
        ``schema_title=``, ``state=``, ``name=``, ``metadata.KEY.number_value=``/``string_value=``
        joined by ``AND``), newest first."""
        pb = self.pb
        tests = []
        for clause in query.split(" AND "):
            lhs, sep, rhs = clause.strip().partition("=")
            if not sep:
                raise KubeflowLocalError(f"task {task}: resolver filter clause {clause!r} is not FIELD=VALUE")
            value = json.loads(rhs) if rhs.startswith('"') else rhs
            meta = re.fullmatch(r"metadata\.(\w+)\.(number_value|string_value)", lhs)
            if lhs == "schema_title":
                type_ids = [t.id for t in self.store.get_artifact_types() if t.name == value]
                tests.append(lambda a, ids=type_ids: a.type_id in ids)
            elif lhs == "state":
                tests.append(lambda a, state=pb.Artifact.State.Value(value): a.state == state)
            elif lhs == "name":
                tests.append(lambda a, name=value: self.artifact_name(a.id) == name)
            elif meta:
                key, kind = meta.groups()
                want = float(value) if kind == "number_value" else value
                tests.append(lambda a, k=key, w=want, kind=kind: k in a.custom_properties
                             and getattr(a.custom_properties[k], "double_value" if kind == "number_value"
                                         else kind) == w)
            else:
                raise KubeflowLocalError(f"task {task}: resolver filter field {lhs!r} is not one Kubeflow's "
                                         "metadata filter takes here")
        found = [a for a in self.store.get_artifacts() if all(test(a) for test in tests)]
        return [a.id for a in sorted(found, key=lambda a: a.id, reverse=True)]


def resolve_placeholders(task: str, text: str, executor_input: dict) -> str:
    """Substitute the KFP placeholders in one command-line argument or filter, strictly."""

    def one(match):
        expression = match.group(1)
        if expression == "":
            return json.dumps(executor_input)
        form = PLACEHOLDER_FORMS.match(expression)
        if not form:
            raise KubeflowLocalError(f"task {task}: placeholder {match.group(0)} is not one Kubeflow resolves")
        side, kind, key, field, meta = form.group("side", "kind", "key", "field", "meta")
        if kind == "parameters":
            if side == "outputs" or field:
                raise KubeflowLocalError(f"task {task}: placeholder {match.group(0)} is not one Kubeflow resolves")
            values = executor_input["inputs"].get("parameterValues", {})
            if key not in values:
                raise KubeflowLocalError(f"task {task}: placeholder {match.group(0)}: no input parameter {key!r} "
                                         f"(the task has: {', '.join(sorted(values)) or 'none'})")
            value = values[key]
            return value if isinstance(value, str) else json.dumps(value)
        artifacts = executor_input[side].get("artifacts", {})
        if key not in artifacts:
            raise KubeflowLocalError(f"task {task}: placeholder {match.group(0)}: no {side[:-1]} artifact {key!r} "
                                     f"(the task has: {', '.join(sorted(artifacts)) or 'none'})")
        if not field:
            raise KubeflowLocalError(f"task {task}: placeholder {match.group(0)} names an artifact, not its "
                                     "uri or metadata")
        [artifact] = artifacts[key]["artifacts"] or [None]
        if artifact is None:
            raise KubeflowLocalError(f"task {task}: placeholder {match.group(0)}: artifact {key!r} is empty")
        if field == "uri":
            return artifact["uri"]
        if meta not in artifact.get("metadata", {}):
            raise KubeflowLocalError(f"task {task}: placeholder {match.group(0)}: artifact {key!r} has no metadata "
                                     f"{meta!r} (it has: {', '.join(sorted(artifact.get('metadata', {})))})")
        value = artifact["metadata"][meta]
        return value if isinstance(value, str) else json.dumps(value)

    return PLACEHOLDER.sub(one, text)


def task_order(tasks: dict) -> list[str]:
    """The DAG's tasks in dependency order (upstream first, ties by name); a cycle is an error."""
    needs = {}
    for name, task in tasks.items():
        producers = {a["taskOutputArtifact"]["producerTask"] for a in task.get("inputs", {}).get("artifacts", {}).values()
                     if "taskOutputArtifact" in a}
        producers |= {p["taskOutputParameter"]["producerTask"] for p in task.get("inputs", {}).get("parameters", {}).values()
                      if "taskOutputParameter" in p}
        needs[name] = set(task.get("dependentTasks", [])) | producers
        unknown = needs[name] - set(tasks)
        if unknown:
            raise KubeflowLocalError(f"task {name}: depends on unknown task(s) {sorted(unknown)}")
    order, done = [], set()
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in done and needs[n] <= done)
        if not ready:
            raise KubeflowLocalError(f"the DAG has a cycle among {sorted(set(tasks) - done)}")
        order += ready
        done |= set(ready)
    return order


class SpecRun:
    """One run of a compiled pipeline spec (a dict of the YAML) under ``pipeline_root``."""

    def __init__(self, spec: dict, pipeline_root: str, metadata_path: str, parameters: dict, log=print):
        self.spec = spec
        self.run_id = f"{spec['pipelineInfo']['name']}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.run_root = os.path.join(pipeline_root, self.run_id)
        self.store = MetadataStore(metadata_path, self.run_id)
        self.parameters = self._pipeline_parameters(parameters)
        self.outputs = {}  # task -> {output key: [artifact id]}
        self.states = {}  # task -> "COMPLETE" | "FAILED"
        self.log = log

    def _pipeline_parameters(self, given: dict) -> dict:
        definitions = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
        unknown = set(given) - set(definitions)
        if unknown:
            raise KubeflowLocalError(f"pipeline: no runtime parameter(s) {sorted(unknown)} "
                                     f"(it has: {', '.join(sorted(definitions))})")
        values = {}
        for name, definition in definitions.items():
            if name in given:
                values[name] = given[name]
            elif "defaultValue" in definition:
                values[name] = definition["defaultValue"]
            elif not definition.get("isOptional"):
                raise KubeflowLocalError(f"pipeline: runtime parameter {name!r} has no value")
        return values

    def run(self) -> dict:
        tasks = self.spec["root"]["dag"]["tasks"]
        order = task_order(tasks)
        for i, name in enumerate(order, 1):
            start = time.time()
            self.log(f"      [{i}/{len(order)}] {name} ...")
            self.run_task(name, tasks[name])
            self.log(f"      [{i}/{len(order)}] {name} {self.states[name].lower()} ({time.time() - start:.0f} s)")
        return {"run_id": self.run_id, "run_root": self.run_root, "order": order, "states": dict(self.states),
                "outputs": self.outputs}

    # --- the driver ------------------------------------------------------------------------
    def _input_artifacts(self, name: str, task: dict, component: dict) -> tuple[dict, dict]:
        definitions = component.get("inputDefinitions", {}).get("artifacts", {})
        found, ids = {}, {}
        for key, source in task.get("inputs", {}).get("artifacts", {}).items():
            if key not in definitions:
                raise KubeflowLocalError(f"task {name}: input artifact {key!r} is not in its component's inputs")
            if "taskOutputArtifact" not in source:
                raise KubeflowLocalError(f"task {name}: input artifact {key!r}: only task outputs are emulated")
            producer = source["taskOutputArtifact"]["producerTask"]
            output_key = source["taskOutputArtifact"]["outputArtifactKey"]
            produced = self.outputs[producer]
            if output_key not in produced:
                raise KubeflowLocalError(f"task {name}: input {key!r}: task {producer} has no output {output_key!r}")
            ids[key] = produced[output_key]
            found[key] = {"artifacts": [self.store.runtime_artifact(i, definitions[key]["artifactType"])
                                        for i in produced[output_key]]}
        return found, ids

    def _input_parameters(self, name: str, task: dict, component: dict) -> dict:
        definitions = component.get("inputDefinitions", {}).get("parameters", {})
        values = {}
        for key, source in task.get("inputs", {}).get("parameters", {}).items():
            if key not in definitions:
                raise KubeflowLocalError(f"task {name}: input parameter {key!r} is not in its component's inputs")
            if "runtimeValue" in source:
                values[key] = source["runtimeValue"]["constant"]
            elif "componentInputParameter" in source:
                pipeline_parameter = source["componentInputParameter"]
                if pipeline_parameter not in self.parameters:
                    raise KubeflowLocalError(f"task {name}: input {key!r}: no pipeline parameter {pipeline_parameter!r}")
                values[key] = self.parameters[pipeline_parameter]
            else:
                raise KubeflowLocalError(f"task {name}: input parameter {key!r}: source {sorted(source)} not emulated")
        for key, definition in definitions.items():
            if key not in values:
                if "defaultValue" in definition:
                    values[key] = definition["defaultValue"]
                elif not definition.get("isOptional"):
                    raise KubeflowLocalError(f"task {name}: input parameter {key!r} has no value")
        return values

    def run_task(self, name: str, task: dict) -> None:
        if "triggerPolicy" in task:
            raise KubeflowLocalError(f"task {name}: trigger conditions are not emulated")
        component = self.spec["components"][task["componentRef"]["name"]]
        executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]
        artifacts, input_ids = self._input_artifacts(name, task, component)
        executor_input = {"inputs": {"parameterValues": self._input_parameters(name, task, component),
                                     "artifacts": artifacts},
                          "outputs": {"artifacts": {}, "outputFile": ""}}
        if "resolver" in executor:
            self.outputs[name] = self._resolve(name, executor["resolver"], executor_input)
        elif "container" in executor:
            self.outputs[name] = self._launch(name, executor["container"], component, executor_input, input_ids)
        else:
            raise KubeflowLocalError(f"task {name}: executor kind {sorted(executor)} is not emulated")
        self.states[name] = "COMPLETE"

    def _resolve(self, name: str, resolver: dict, executor_input: dict) -> dict:
        """A resolver task: each output is the newest artifact its ML Metadata query finds (none
        when an input it reads is empty: nothing to resolve yet)."""
        outputs = {}
        for key, query in resolver["outputArtifactQueries"].items():
            inputs = executor_input["inputs"]["artifacts"]
            read = re.findall(r"\.inputs\.artifacts\['([^']+)'\]", query["filter"])
            if any(k in inputs and not inputs[k]["artifacts"] for k in read):  # nothing to resolve yet
                outputs[key] = []
                continue
            found = self.store.query(name, resolve_placeholders(name, query["filter"], executor_input))
            outputs[key] = found[:1]
        return outputs

    # --- the launcher and the pod ----------------------------------------------------------
    def _launch(self, name: str, container: dict, component: dict, executor_input: dict, input_ids: dict) -> dict:
        task_root = os.path.join(self.run_root, name)
        output_defs = component.get("outputDefinitions", {})
        if output_defs.get("parameters"):
            raise KubeflowLocalError(f"task {name}: output parameters are not emulated")
        for key, definition in output_defs.get("artifacts", {}).items():
            uri = os.path.join(task_root, key)
            os.makedirs(uri, exist_ok=True)  # the launcher prepares local output paths
            executor_input["outputs"]["artifacts"][key] = {"artifacts": [
                {"type": definition["artifactType"], "uri": uri, "metadata": {}}]}
        executor_input["outputs"]["outputFile"] = os.path.join(task_root, "executor_output.json")
        self._check_executor_input(name, executor_input)
        argv = [resolve_placeholders(name, arg, executor_input)
                for arg in container.get("command", []) + container.get("args", [])]
        env = dict(os.environ, **image_environment())
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        log_path = os.path.join(task_root, "pod.log")
        with open(log_path, "wb") as log:
            code = subprocess.call(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        if code != 0:
            self.states[name] = "FAILED"
            self.store.record_execution(name, "FAILED", input_ids, {})
            lines = pathlib.Path(log_path).read_text(errors="replace").strip().splitlines()
            raise KubeflowLocalError(f"task {name}: the container exited with {code} "
                                     f"({lines[-1] if lines else 'no output'}; log: {log_path})")
        return self._record_outputs(name, executor_input, input_ids)

    def _check_executor_input(self, name, executor_input):
        from google.protobuf import json_format
        from kfp.pipeline_spec import pipeline_spec_pb2

        try:  # what the container parses: unknown fields would be dropped there, so refuse them here
            json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())
        except json_format.ParseError as error:
            raise KubeflowLocalError(f"task {name}: executor input is not an ExecutorInput: {error}") from None

    def _record_outputs(self, name: str, executor_input: dict, input_ids: dict) -> dict:
        output_file = executor_input["outputs"]["outputFile"]
        if not os.path.exists(output_file):
            raise KubeflowLocalError(f"task {name}: the container wrote no output metadata file {output_file}")
        with open(output_file) as f:
            written = json.load(f)
        outputs = {}
        for key, planned in executor_input["outputs"]["artifacts"].items():
            [artifact] = planned["artifacts"]
            reported = written.get("artifacts", {}).get(key, {}).get("artifacts", [{}])
            metadata = reported[0].get("metadata", {}) if reported else {}
            if reported and reported[0].get("uri", artifact["uri"]) != artifact["uri"]:
                raise KubeflowLocalError(f"task {name}: output {key!r} moved to {reported[0]['uri']}, "
                                         f"not its planned URI {artifact['uri']}")
            outputs[key] = [self.store.record_artifact(_schema_title(artifact["type"]), artifact["uri"], metadata, key)]
        self.store.record_execution(name, "COMPLETE", input_ids, outputs)
        return outputs


def run_spec(spec_path: str, pipeline_root: str, metadata_path: str, parameters: dict, log=print) -> dict:
    """Execute the compiled spec (YAML, or a Vertex ``PipelineJob`` JSON) task by task."""
    import yaml

    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    spec = spec.get("pipelineSpec", spec)
    return SpecRun(spec, pipeline_root, metadata_path, parameters, log=log).run()


def kubeflow_paths(work_dir: str) -> dict:
    """The Kubeflow emulation's own pipeline root and ML Metadata under the work directory (the
    drop and the serving folder are the local runner's)."""
    paths = configs.work_paths(work_dir)
    root = os.path.join(os.path.abspath(work_dir), "kubeflow")
    return {**paths, "pipeline_root": root, "metadata": os.path.join(root, "metadata.sqlite"),
            "spec": os.path.join(root, "pipeline.yaml")}


def run_kubeflow_local(work_dir: str, drop_root: str, train_config, dataset: str = configs.DATASET,
                       serving_dir: str | None = None, log=print, **kwargs) -> dict:
    """Compile the pipeline for Kubeflow exactly as for a cluster (``drop_root`` and
    ``serving_dir`` runtime parameters) and execute the spec under ``work_dir``; returns the paths
    used and the run (``order``, ``states``, ``outputs``). ``kwargs`` go to ``create_pipeline``."""
    from affect_tf.pipelines.kubeflow_v2_runner import DROP_ROOT_PARAMETER, SERVING_DIR_PARAMETER, compile_pipeline

    paths = kubeflow_paths(work_dir)
    serving_dir = serving_dir or paths["serving"]
    os.makedirs(paths["pipeline_root"], exist_ok=True)
    compile_pipeline(paths["spec"], pipeline_root=paths["pipeline_root"], drop_root=drop_root,
                     serving_dir=serving_dir, train_config=train_config, dataset=dataset, **kwargs)
    run = run_spec(paths["spec"], paths["pipeline_root"], paths["metadata"],
                   {DROP_ROOT_PARAMETER: drop_root, SERVING_DIR_PARAMETER: serving_dir}, log=log)
    return {**paths, **run}


def run_main_job(args, work_dir: str, drops, train_config, evaluation: dict) -> int:
    """``affect-tf run --runner kubeflow-local``: steps 2 and 3 of the main job on the spec."""
    from affect_tf.pipelines.outcome import print_summary

    if len(drops) != 1:
        raise SystemExit("--runner kubeflow-local runs one drop per run (the drop_root parameter): "
                         "give a new release its own root with --drop")
    [drop] = drops
    paths = kubeflow_paths(work_dir)
    print(f"[2/3] TFX pipeline compiled for Kubeflow ({paths['spec']}), executed task by task "
          f"(ML Metadata in {paths['metadata']})", flush=True)
    log = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    run_kubeflow_local(work_dir, drop.root, train_config, dataset=drop.dataset, log=log,
                       evaluation_config=evaluation, train_steps=args.steps,
                       warm_start=not args.no_warm_start, preprocess_beam_args=args.beam_arg or ())
    print("[3/3] done", flush=True)
    print_summary(paths["metadata"], type_prefix="tfx.")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_tfjob(job: dict, volume: str, work_dir: str, timeout: float = 600) -> list[dict]:
    """Run a ``TFJob`` (kubeflow.org/v1, as ``python -m affect_tf.pipelines.tfjob`` prints it) as the
    Training Operator would, with local processes for pods: one per replica, each running the
    ``tensorflow`` container's command and args with ``TF_CONFIG`` naming every replica (the
    operator's ``<job>-<type>-<i>.<namespace>.svc:<port>`` services become 127.0.0.1 ports) and
    its own type and index. The claim's ``volumeMounts`` path is ``volume``; each pod's temp dir
    is its own under ``work_dir``. Returns per replica: type, index, exit code, log path."""
    if (job.get("apiVersion"), job.get("kind")) != ("kubeflow.org/v1", "TFJob"):
        raise KubeflowLocalError(f"not a kubeflow.org/v1 TFJob: {job.get('apiVersion')} {job.get('kind')}")
    name = job["metadata"]["name"]
    replicas = []
    for replica_type, spec in job["spec"]["tfReplicaSpecs"].items():
        [container] = [c for c in spec["template"]["spec"]["containers"] if c["name"] == "tensorflow"]
        replicas += [(replica_type.lower(), i, container) for i in range(spec["replicas"])]
    cluster = {}
    for replica_type, index, _ in replicas:
        cluster.setdefault(replica_type, []).append(f"127.0.0.1:{_free_port()}")
    processes = []
    try:
        for replica_type, index, container in replicas:
            mounts = [m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts", [])]

            def on_volume(arg, mounts=mounts):
                for mount in mounts:
                    if arg.startswith(mount):
                        return os.path.join(volume, arg[len(mount):])
                return arg

            pod = os.path.join(work_dir, f"{name}-{replica_type}-{index}")
            os.makedirs(os.path.join(pod, "tmp"), exist_ok=True)
            env = dict(os.environ, **image_environment(), TMPDIR=os.path.join(pod, "tmp"),
                       TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": replica_type, "index": index},
                                             "environment": "cloud"}))
            env.update({e["name"]: e["value"] for e in container.get("env", [])})
            env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
            argv = [on_volume(a) for a in container.get("command", []) + container.get("args", [])]
            log = open(os.path.join(pod, "pod.log"), "wb")
            processes.append((replica_type, index, log, subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)))
        deadline = time.time() + timeout
        results = []
        for replica_type, index, log, process in processes:
            code = process.wait(max(1.0, deadline - time.time()))
            results.append({"type": replica_type, "index": index, "exit_code": code, "log": log.name})
        return results
    finally:
        for _, _, log, process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
