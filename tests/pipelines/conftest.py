"""The LocalDagRunner main job run once per session, shared by the end-to-end tests that need it."""
import contextlib
import io
import warnings

import pytest


class Utf8Text(io.StringIO):
    """A captured stderr that says UTF-8, as a terminal does (tqdm draws its bar with blocks then)."""

    encoding = "utf-8"


@pytest.fixture(scope="session")
def first_run(tmp_path_factory):
    """Run 1, the main job (``affect-tf run``, LocalDagRunner) on a fresh work dir: its paths,
    train config file and output; tests/pipelines/test_kubeflow_local.py compares its figures with this run's."""
    from affect_tf.cli import main
    from affect_tf.pipelines import configs, drops
    from affect_tf.pipelines.outcome import latest_outcome
    from tests.pipelines.test_local_pipeline_e2e import FLOOR, MARGIN, SYNTHETIC, good_config

    tmp_path = tmp_path_factory.mktemp("local")
    work = str(tmp_path / "work")
    paths = configs.work_paths(work)
    drops.ensure_synthetic_drop(paths["drop"], **SYNTHETIC)
    config_file = tmp_path / "train_config.json"
    config_file.write_text(good_config().to_json())
    out, err = io.StringIO(), Utf8Text()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings(record=True) as caught:  # what a user would see printed
        warnings.simplefilter("always")
        code = main(["run", "--work-dir", work, "--train-config", str(config_file), "--margin", MARGIN,
                     "--floor", FLOOR])
    assert code == 0, err.getvalue()[-3000:]
    shown = [f"{w.category.__name__}: {w.message}" for w in caught
             if not issubclass(w.category, (FutureWarning, DeprecationWarning))]
    return {"work": work, "paths": paths, "config_file": config_file, "out": out.getvalue(), "err": err.getvalue(),
            "warnings": shown, "report": latest_outcome(paths["metadata"])["evaluation"]}
