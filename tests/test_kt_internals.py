"""Keras Tuner's internals that the engine uses (tfhparam/kt_internals.py) are all there, in
the version range setup.py allows."""

import pathlib
import re

import keras_tuner as kt

from tfhparam import kt_internals


def test_every_internal_the_engine_uses_is_there():
    assert kt_internals.missing() == [], (
        f"keras-tuner {kt.__version__} lacks internals tfhparam uses; checked on "
        f"keras-tuner{kt_internals.CHECKED}"
    )


def test_setup_allows_exactly_the_checked_range():
    setup = (pathlib.Path(__file__).parents[1] / "setup.py").read_text()
    allowed = re.search(r'"keras-tuner\[bayesian\]([^"]+)"', setup).group(1)
    assert allowed == kt_internals.CHECKED


def test_only_the_adapter_imports_keras_tuner_internals():
    package = pathlib.Path(kt_internals.__file__).parent
    users = [
        p.name
        for p in package.glob("*.py")
        if "keras_tuner.src" in p.read_text() and p.name != "kt_internals.py"
    ]
    assert users == []
