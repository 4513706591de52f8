"""Compile the pipeline for Kubeflow Pipelines (v2 / Vertex) with TFX's KubeflowV2DagRunner.

``compile_pipeline(output_file=...)``: a name ending in ``.yaml`` gives the bare pipeline spec that
open-source KFP accepts; ``.json`` gives a Vertex ``PipelineJob``. The drop root and the serving
base path are runtime parameters, so one compiled spec serves every new drop::

    python -m affect_tf.pipelines.kubeflow_v2_runner --pipeline-root gs://BUCKET/affect-tf \\
        --drop-root gs://BUCKET/drops/affwild2-v2 --serving-dir gs://BUCKET/serving/affect \\
        --image gcr.io/PROJECT/affect-tf-pipeline:latest --output affect_tf_pipeline.yaml
    python -c "import kfp; kfp.Client(host='http://KFP_HOST').create_run_from_pipeline_package(
        'affect_tf_pipeline.yaml', arguments={'drop_root': 'gs://BUCKET/drops/affwild2-v3'})"
"""
from __future__ import annotations

import argparse
import os

from tfx import v1 as tfx

from affect_tf.pipelines import configs
from affect_tf.pipelines.pipeline import Drop, create_pipeline

DROP_ROOT_PARAMETER = "drop_root"
SERVING_DIR_PARAMETER = "serving_dir"


def compile_pipeline(output_file: str, pipeline_root: str, drop_root: str, serving_dir: str, train_config,
                     image: str = configs.PIPELINE_IMAGE, dataset: str = configs.DATASET,
                     pipeline_name: str = configs.PIPELINE_NAME, **kwargs) -> str:
    """Write the compiled pipeline to ``output_file`` and return its path."""
    drop_root_param = tfx.dsl.experimental.RuntimeParameter(name=DROP_ROOT_PARAMETER, ptype=str, default=drop_root)
    serving_param = tfx.dsl.experimental.RuntimeParameter(name=SERVING_DIR_PARAMETER, ptype=str, default=serving_dir)
    pipeline = create_pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        drops=[Drop(dataset, drop_root_param)],
        train_config=train_config,
        serving_dir=serving_param,
        fingerprint_drops=False,  # the drop lives on remote storage; each release has its own root
        **kwargs,
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image, use_pipeline_spec_2_1=True),  # 2.1: what KFP 2 reads
        output_dir=os.path.dirname(os.path.abspath(output_file)),
        output_filename=os.path.basename(output_file),
    )
    runner.run(pipeline, write_out=True)
    return output_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline-root", required=True)
    parser.add_argument("--drop-root", required=True)
    parser.add_argument("--serving-dir", required=True)
    parser.add_argument("--dataset", default=configs.DATASET)
    parser.add_argument("--image", default=configs.PIPELINE_IMAGE)
    parser.add_argument("--train-config", default=None, help="TrainConfig JSON file")
    parser.add_argument("--output", default="affect_tf_pipeline.yaml")
    args = parser.parse_args(argv)
    train_config = open(args.train_config).read() if args.train_config else {"type": "TrainConfig"}
    print(compile_pipeline(args.output, args.pipeline_root, args.drop_root, args.serving_dir, train_config,
                           image=args.image, dataset=args.dataset))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
