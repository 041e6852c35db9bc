"""Test set-up shared by every test module.

Keras writes ``~/.keras/keras.json`` on first import: point ``KERAS_HOME`` at a temp dir
before anything imports it. The backend comes from ``KERAS_BACKEND`` (CI runs the suite
once per backend).
"""

import os
import tempfile

os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="fmwidget-keras-"))

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"
