"""A Kubeflow Training Operator ``TFJob`` running ``affect-tf train`` on N workers with
``--strategy multi_worker_mirrored`` (docs/pipelines.md, "Training on Kubernetes").

The operator starts one pod per worker and sets ``TF_CONFIG`` in each (cluster of
``<job>-worker-<i>.<namespace>.svc:2222`` hosts, this pod's index); worker 0 is the chief and the
only one writing into ``--out``. Records and the run folder live on a volume every worker mounts
(a ReadWriteMany claim) because ``affect-tf train`` reads and writes local paths::

    python -m affect_tf.pipelines.tfjob --name affect-run1 --workers 4 --gpus 1 \\
        --image gcr.io/PROJECT/affect-tf-train:latest --claim affect-tf-data \\
        --records /data/records/affwild2-v1 --out /data/runs/run1 -- --preset cnn_3rnn_2ndpool_lastpool_fc \\
        > tfjob.yaml && kubectl apply -f tfjob.yaml
"""
from __future__ import annotations

import argparse
import re
import sys

API_VERSION = "kubeflow.org/v1"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # Kubernetes object names (RFC 1123)
MOUNT = "/data"


def render_tfjob(name: str, image: str, records: str, out: str, *, workers: int = 2, gpus: int = 0,
                 cpu: str = "4", memory: str = "16Gi", claim: str = "affect-tf-data",
                 namespace: str = "default", train_args=()) -> dict:
    """The TFJob as a dict (``yaml.safe_dump`` it). ``train_args`` go to ``affect-tf train``
    after the records, run folder and strategy (e.g. ``--preset``, ``--epochs``, ``--batch-size``:
    the global batch, split over the workers)."""
    if not DNS_LABEL.match(name) or len(name) > 50:
        raise ValueError(f"TFJob name {name!r}: lower-case letters, digits and '-', at most 50")
    if workers < 1 or gpus < 0:
        raise ValueError(f"workers must be >= 1 and gpus >= 0, got {workers} and {gpus}")
    for label, path in (("records", records), ("out", out)):
        if not path.startswith(MOUNT + "/"):
            raise ValueError(f"{label} {path!r} must lie on the shared volume mounted at {MOUNT}/")
    limits = {"cpu": cpu, "memory": memory}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    container = {
        "name": "tensorflow",  # the operator finds the training container by this name
        "image": image,
        "command": ["affect-tf", "train"],
        "args": ["--records", records, "--out", out, "--strategy", "multi_worker_mirrored", *train_args],
        "ports": [{"name": "tfjob-port", "containerPort": 2222}],
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits},
        "volumeMounts": [{"name": "data", "mountPath": MOUNT}],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "TFJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 3},
            "tfReplicaSpecs": {"Worker": {
                "replicas": workers,
                # a restarted worker resumes from its backup (keras BackupAndRestore)
                "restartPolicy": "OnFailure",
                "template": {"spec": {
                    "containers": [container],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
                }},
            }},
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Print a TFJob for multi-worker affect-tf train.")
    parser.add_argument("--name", required=True)
    parser.add_argument("--image", required=True, help="training image (pipelines/Dockerfile)")
    parser.add_argument("--records", required=True, help=f"records folder under {MOUNT}/")
    parser.add_argument("--out", required=True, help=f"run folder under {MOUNT}/")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gpus", type=int, default=0, help="GPUs per worker")
    parser.add_argument("--cpu", default="4")
    parser.add_argument("--memory", default="16Gi")
    parser.add_argument("--claim", default="affect-tf-data", help="ReadWriteMany volume claim")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="affect-tf train options after --")
    args = parser.parse_args(argv)
    import yaml

    job = render_tfjob(args.name, args.image, args.records, args.out, workers=args.workers,
                       gpus=args.gpus, cpu=args.cpu, memory=args.memory, claim=args.claim,
                       namespace=args.namespace, train_args=[a for a in args.train_args if a != "--"])
    yaml.safe_dump(job, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
