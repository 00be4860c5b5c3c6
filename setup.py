"""Installs tfhparam (sweeps, tuner, report, CLIs) and agents (pure-TensorFlow PPO, A2C, DQN)."""

from setuptools import find_packages, setup

TENSORFLOW = [
    # tensorflow-cpu is the small CPU-only build; it exists for Linux x86_64 only.
    "tensorflow-cpu>=2.16; platform_system == 'Linux' and platform_machine == 'x86_64'",
    "tensorflow>=2.16; platform_system != 'Linux' or platform_machine != 'x86_64'",
]

# Optional parts, each an extra; "all" installs every one.
OPTIONAL = {
    # python -m tfhparam.report draws its figures with matplotlib.
    "report": ["matplotlib>=3.7", "pandas>=1.5"],  # pandas: tfhparam.results.load
    # --strategy tpe: Optuna's TPE sampler, its study stored in SQLite.
    # Optuna's samplers: CMA-ES needs cmaes, QMC scipy (Keras Tuner's GP brings it already).
    "optuna": ["optuna>=4.4", "cmaes>=0.10"],
    # python -m tfhparam.evaluate --render FILE.gif writes its frames with Pillow.
    "render": ["pillow>=9"],
    # gymnasium's MuJoCo (HalfCheetah-v5, ...) and Box2D (LunarLander-v3, ...) envs.
    "mujoco": ["gymnasium[mujoco]>=1.0"],
    "box2d": ["gymnasium[box2d]>=1.0"],
    # Atari (ALE/*-v5): ale-py ships the ROMs in its wheel; gymnasium's AtariPreprocessing
    # resizes frames with OpenCV.
    "atari": ["ale-py>=0.9", "opencv-python-headless>=4.8"],
    # MinAtar (MinAtar/*-v1): the minatar package's games and their gymnasium envs.
    "minatar": ["minatar>=1.0.15"],
    # --tracker mlflow: the full package (not mlflow-skinny): its SQLite store and `mlflow ui`.
    "mlflow": ["mlflow>=3.0"],
    # --tracker wandb: reinit="create_new" (a run per population member, open at once).
    "wandb": ["wandb>=0.19.10"],
    # tfhparam.ray (a Tune trainable, search spaces, the HParams callback) and --backend ray:
    # 2.43 is where Tune's own report / get_checkpoint / RunConfig are the API.
    "ray": ["ray[tune]>=2.43"],
}
ALL = sorted({requirement for group in OPTIONAL.values() for requirement in group})
# Optuna's GPSampler needs PyTorch; PyPI's Linux wheel brings CUDA's libraries (gigabytes),
# so it is left out of all and dev.
GP = ["optuna>=4.4", "torch>=2.2"]
# The tests cover every optional part, so the dev extra installs them all; ruff pinned: its
# format style changes between releases; pytest-xdist runs the suite on every core.
DEV = ["pytest>=8", "pytest-xdist>=3.5", "ruff==0.17.6", *ALL]
# docs/hparams_screenshot.py drives the system Chromium (Debian's `chromium`).
DOCS = ["playwright>=1.40"]

setup(
    name="tfhparam",
    version="0.1.0",
    description="Hyperparameter sweeps for pure-TensorFlow RL agents, with TensorBoard HParams.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfhparam", "tfhparam.*", "agents", "agents.*"]),
    install_requires=[
        *TENSORFLOW,
        "tensorboard>=2.16",
        "gymnasium[classic-control]>=1.0",
        "numpy>=1.24",
        # [bayesian] brings scipy and scikit-learn, which Keras Tuner's GP oracle needs. The
        # range tfhparam/kt_internals.py was checked on (it uses Keras Tuner's internals).
        "keras-tuner[bayesian]>=1.4.7,<1.5",
        "pyyaml>=6.0",
    ],
    extras_require={**OPTIONAL, "gp": GP, "all": ALL, "dev": DEV, "docs": DOCS},
)
