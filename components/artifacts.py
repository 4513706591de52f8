"""Where the pipeline's artifacts keep their files: record files of a split of an Examples
artifact, the SavedModel inside a Model artifact. Every component reads artifacts through these."""
import glob
import os

from tfx.utils import path_utils


def split_files(examples_uri: str, split: str) -> list:
    """Record files of one split (empty for a split the drop has no recordings in)."""
    folder = os.path.join(examples_uri, f"Split-{split}")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"examples {examples_uri} have no split {split!r}")
    return sorted(glob.glob(os.path.join(folder, "*.tfrecord*")))


def serving_dir(model) -> str:
    """The folder of a Model artifact that holds its SavedModel (TFX's layout, old or new)."""
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
