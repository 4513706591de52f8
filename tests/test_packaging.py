"""The wheel puts one name on the path: the outer layers (components/, pipelines/, serving/)
install as affect_tf.components, affect_tf.pipelines and affect_tf.serving."""
import configparser
import pathlib
import subprocess
import sys
import zipfile


REPO = pathlib.Path(__file__).resolve().parents[1]


def test_wheel_installs_only_affect_tf(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("affect_tf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"affect_tf"}
    for layer, module in (("serving", "server.py"), ("pipelines", "pipeline.py"), ("components", "pusher.py")):
        assert f"affect_tf/{layer}/{module}" in names
    entry_points = configparser.ConfigParser()
    dist_info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry_points.read_string(zipfile.ZipFile(wheel).read(dist_info).decode())
    targets = [*entry_points["console_scripts"].values(), *entry_points["affect_tf.commands"].values()]
    assert targets and all(t.startswith("affect_tf.") for t in targets), targets
