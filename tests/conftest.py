import os

# Quiet TensorFlow's C++ start-up logs in tests that import it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The suite runs on pytest-xdist workers, one a core (pytest.ini): each worker's TensorFlow
# then keeps to one thread a pool, so that the workers do not fight over the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
