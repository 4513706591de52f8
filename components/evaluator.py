"""AffectEvaluator: CCC/PCC/RMSE/ICC per frame and per utterance on held-out subjects, and the
blessing against the currently blessed model (both evaluated here on the same records).

TFMA cannot load a Keras 3 export as a Keras model and has no per-utterance view, so the scoring
is :mod:`affect_tf.evaluation` (on predictions from :mod:`affect_tf.evaluation_io`); without a
``median_window`` in ``evaluation_config`` each model is post-processed with the window chosen at
its training time (its export metadata), as it is served. This component reads the artifacts
and writes the standard ``ModelEvaluation`` (``report.json``, ``predictions.png``) and
``ModelBlessing`` artifacts. The blessing carries the properties TFX's ``LatestBlessedModelStrategy`` and ``Pusher`` read
(``blessed``, ``current_model_id``, ...), so the standard resolvers work with it.
"""

import json
import os
from typing import List

from tfx import v1 as tfx
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils

from affect_tf import evaluation_io
from affect_tf.evaluation import bless
from affect_tf.files import write_text_atomic
from affect_tf.components.artifacts import serving_dir, split_files

Examples = tfx.types.standard_artifacts.Examples
Model = tfx.types.standard_artifacts.Model
ModelEvaluation = tfx.types.standard_artifacts.ModelEvaluation
ModelBlessing = tfx.types.standard_artifacts.ModelBlessing

REPORT_FILE = "report.json"
PLOT_FILE = "predictions.png"


@tfx.dsl.components.component
def AffectEvaluator(
    examples: tfx.dsl.components.InputArtifact[List[Examples]],
    model: tfx.dsl.components.InputArtifact[Model],
    evaluation: tfx.dsl.components.OutputArtifact[ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[ModelBlessing],
    baseline_model: tfx.dsl.components.InputArtifact[Model] = None,
    eval_split: tfx.dsl.components.Parameter[str] = "test",
    evaluation_config: tfx.dsl.components.Parameter[str] = "{}",
    batch_size: tfx.dsl.components.Parameter[int] = 8,
):
    """Score ``model`` (and ``baseline_model``) on ``eval_split`` of every examples artifact."""
    files = []
    for artifact in examples:
        if eval_split not in artifact_utils.decode_split_names(artifact.split_names):
            continue
        files += split_files(artifact.uri, eval_split)
    if not files:
        raise ValueError(f"no {eval_split!r} split in the examples {[a.uri for a in examples]}")

    raw = json.loads(evaluation_config) or {}
    config = evaluation_io.config_with_export_window(raw, serving_dir(model))
    report, recordings = evaluation_io.evaluate_saved_model(serving_dir(model), files, config, batch_size)
    baseline_report = None
    if baseline_model is not None:  # scored as it is served: with its own median window
        baseline_dir = serving_dir(baseline_model)
        baseline_report, _ = evaluation_io.evaluate_saved_model(
            baseline_dir, files, evaluation_io.config_with_export_window(raw, baseline_dir), batch_size)
    decision = bless(report, baseline_report, config)
    report["eval_split"] = eval_split
    report["baseline"] = baseline_report
    report["blessing"] = {"blessed": decision.blessed, "reason": decision.reason,
                          "candidate": decision.candidate, "baseline": decision.baseline}
    evaluation_io.write_json(report, os.path.join(evaluation.uri, REPORT_FILE))
    evaluation_io.plot_predictions(recordings, os.path.join(evaluation.uri, PLOT_FILE),
                                   title=f"{eval_split}: {decision.reason}")
    evaluation.set_float_custom_property("score", decision.candidate)
    for dim in ("valence", "arousal"):
        for level in ("frame", "utterance"):
            evaluation.set_float_custom_property(f"{level}_{dim}_ccc", report[level][dim]["ccc"])

    flag = constants.BLESSED_VALUE if decision.blessed else constants.NOT_BLESSED_VALUE
    write_text_atomic(os.path.join(blessing.uri, constants.BLESSED_FILE_NAME if decision.blessed
                                   else constants.NOT_BLESSED_FILE_NAME), decision.reason + "\n")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, flag)
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY, decision.reason)
    if baseline_model is not None:
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline_model.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline_model.id)


class AffectEvaluatorExecutor(AffectEvaluator.EXECUTOR_SPEC.executor_class, tfx_evaluator_executor.Executor):
    """AffectEvaluator's executor, by type also TFX's Evaluator executor: on Kubeflow, TFX's
    container entrypoint then writes the blessing's ``current_model_id`` as the model's ML
    Metadata name, which the latest-blessed-model resolver's query matches. Otherwise the id
    travels as a float and a second run finds no blessed model (no warm start, no baseline;
    ``affect-tf run --runner kubeflow-local`` showed it). The function above still does the work."""


AffectEvaluator.EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(AffectEvaluatorExecutor)  # a Beam executor by type
