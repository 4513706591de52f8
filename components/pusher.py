"""ServingPusher: copies a blessed model into TF Serving's ``<base_directory>/<version>/`` layout.

TFX's own Pusher copies the whole ``Format-Serving`` folder, which under our trainer already holds
a versioned export (``Format-Serving/<n>/saved_model.pb``), giving ``<base>/<ts>/<n>/``. This one
copies the SavedModel itself, numbers versions 1, 2, 3 ... (:func:`affect_tf.export.next_version`),
writes to a hidden temporary folder and renames it into place, so a polling server never loads a
half-copied version. It writes the standard ``PushedModel`` artifact with ``pushed``,
``pushed_version`` and ``pushed_destination`` as TFX's Pusher does.
"""

import os
import shutil
import tempfile

from tfx import v1 as tfx
from tfx.components.evaluator import constants

from affect_tf.export import next_version
from affect_tf.files import find_saved_model, write_text_atomic
from affect_tf.components.artifacts import serving_dir

Model = tfx.types.standard_artifacts.Model
ModelBlessing = tfx.types.standard_artifacts.ModelBlessing
PushedModel = tfx.types.standard_artifacts.PushedModel


def push_saved_model(saved_model_dir: str, base_directory: str) -> str:
    """Copy ``saved_model_dir`` to ``<base_directory>/<next version>/``; returns the new folder."""
    os.makedirs(base_directory, exist_ok=True)
    version = next_version(base_directory)
    tmp = tempfile.mkdtemp(prefix=f".push-{version}-", dir=base_directory)
    try:
        shutil.copytree(saved_model_dir, os.path.join(tmp, "model"))
        final = os.path.join(base_directory, str(version))
        os.rename(os.path.join(tmp, "model"), final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


@tfx.dsl.components.component
def ServingPusher(
    model: tfx.dsl.components.InputArtifact[Model],
    model_blessing: tfx.dsl.components.InputArtifact[ModelBlessing],
    pushed_model: tfx.dsl.components.OutputArtifact[PushedModel],
    base_directory: tfx.dsl.components.Parameter[str],
):
    """Push ``model`` when ``model_blessing`` says blessed; otherwise record that nothing moved."""
    blessed = model_blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY)
    if blessed != constants.BLESSED_VALUE:
        pushed_model.set_int_custom_property("pushed", 0)
        return
    final = push_saved_model(str(find_saved_model(serving_dir(model))), base_directory)
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_int_custom_property("pushed_version", int(os.path.basename(final)))
    pushed_model.set_string_custom_property("pushed_destination", final)
    write_text_atomic(os.path.join(pushed_model.uri, "PUSHED_TO"), final + "\n")
