"""Defaults of the affect-tf pipeline (everything ``create_pipeline`` takes that users rarely change).

The embedded default is the learnable synthetic drop in the Aff-Wild2 layout, a tiny preset
trained for a few hundred steps, local files and SQLite ML Metadata under one work directory.
"""
from __future__ import annotations

import os

from affect_tf import features as F

PIPELINE_NAME = "affect-tf"
DATASET = "affwild2"
TRAIN_SPLIT = "train"
# Held-out subjects: the trainer's validation data and the evaluator's data (the synthetic and
# Aff-Wild2 drops have train/validation; a drop with a "test" split can evaluate on that instead).
EVAL_SPLIT = "validation"
EVALUATOR_SPLIT = "validation"
SERVING_MODEL_NAME = F.MODEL_NAME

# The container image the Kubeflow V2 pipeline runs in (pipelines/Dockerfile).
PIPELINE_IMAGE = os.environ.get("AFFECT_TF_PIPELINE_IMAGE", "gcr.io/YOUR_PROJECT/affect-tf-pipeline:latest")

# Blessing: beat the blessed model's frame-level mean CCC by 0.01 and reach at least 0.3.
EVALUATION = {"type": "EvaluationConfig", "metric": "ccc", "level": "frame", "margin": 0.01, "floor": 0.3}


def work_paths(work_dir: str) -> dict:
    """Where the local pipeline keeps its drop, artifacts, metadata and pushed models."""
    work_dir = os.path.abspath(work_dir)
    return {
        "drop": os.path.join(work_dir, "drops", "synthetic"),
        "pipeline_root": os.path.join(work_dir, "tfx"),
        "metadata": os.path.join(work_dir, "tfx", "metadata.sqlite"),
        "serving": os.path.join(work_dir, "serving", SERVING_MODEL_NAME),
    }
