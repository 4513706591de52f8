"""Run the pipeline locally: LocalDagRunner, local files, SQLite ML Metadata (the embedded default)."""
from __future__ import annotations

import os
from typing import Sequence

from tfx import v1 as tfx

from affect_tf.pipelines import configs
from affect_tf.pipelines.pipeline import Drop, create_pipeline


def run_local(work_dir: str, drops: Sequence[Drop], train_config, pipeline_name: str = configs.PIPELINE_NAME,
              on_start=None, **kwargs) -> dict:
    """Run the whole pipeline once under ``work_dir``; returns the paths it used.

    Re-running with the same ``work_dir`` reuses the cache and the ML Metadata store, so unchanged
    steps are skipped and training warm-starts from the latest blessed model. ``on_start`` is
    called with the component ids before the run (a progress bar's length).
    """
    paths = configs.work_paths(work_dir)
    os.makedirs(paths["pipeline_root"], exist_ok=True)
    pipeline = create_pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=paths["pipeline_root"],
        drops=drops,
        train_config=train_config,
        serving_dir=kwargs.pop("serving_dir", paths["serving"]),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            paths["metadata"]),
        **kwargs,
    )
    if on_start is not None:
        on_start([component.id for component in pipeline.components])
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return paths
