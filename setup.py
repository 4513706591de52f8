"""Package metadata for affect-tf (import name ``affect_tf``)."""
from setuptools import find_packages, setup

OUTER_LAYERS = ("components", "pipelines", "serving")

# Ranges, not a lock: constraints/primary.txt and constraints/latest.txt hold the tested sets.
LIBRARY = [
    "tensorflow>=2.16,<2.22",
    "keras>=3.6,<3.16",
    "numpy>=1.26,<3",
    "scipy>=1.11",
    "librosa>=0.10,<0.12",
    "opensmile>=2.5,<3",
    "av>=12",
    "dlib-bin>=19.24",
    "face_recognition_models>=0.3",
    "mtcnn>=1.0,<2",  # pose-robust face detector; P/R/O-Net weights inside the wheel
    "matplotlib>=3.7",
    "scikit-image>=0.22",
    "apache-beam>=2.59",
    "grpcio>=1.60",
    "urllib3>=1.26",
    "tensorflow-serving-api>=2.16",
    "tqdm>=4.60",  # progress bars of preprocess and predict
    "pandas>=1.5",  # affect_tf.load_model(...).predict returns a DataFrame
]

setup(
    name="affect-tf",
    version="0.1.0",
    description="Continuous valence/arousal estimation from face video and speech: "
    "preprocessing, models, TFX pipelines and TF Serving.",
    python_requires=">=3.10,<3.12",
    # The outer layers keep their folders in the repository and install under affect_tf, so the
    # wheel puts one name on the path: affect_tf.{components,pipelines,serving}.
    packages=find_packages(include=["affect_tf*"]) + [f"affect_tf.{name}" for name in OUTER_LAYERS],
    package_dir={f"affect_tf.{name}": name for name in OUTER_LAYERS},
    install_requires=LIBRARY,
    extras_require={
        "tfx": ["tfx[kfp]==1.16.0", "dill", "kfp>=2.5,<2.6"],
        "dev": ["pytest>=7", "pytest-timeout", "pytest-xdist>=3.5"],  # make test runs two workers
        "jax": ["jax[cpu]>=0.4.30"],
        # The preprocessing job on a Dask cluster (docs/data.md).
        "dask": ["dask[distributed]>=2024.1"],
    },
    entry_points={
        "console_scripts": ["affect-tf=affect_tf.cli:main"],
        # Commands from the outer layers (the core of affect_tf never imports them).
        "affect_tf.commands": [
            "serve=affect_tf.serving.cli:register_serve",
            "predict=affect_tf.serving.cli:register_predict",
            "run=affect_tf.pipelines.cli:register_run",
        ],
    },
)
