"""Shared test setup: offline, deterministic, CPU, and where the shared test data lives."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# CUBETTS_TESTDATA points elsewhere, e.g. on a machine where ../shared is absent.
TESTDATA = Path(os.environ.get("CUBETTS_TESTDATA", REPO.parent / "shared" / "testdata"))


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small models run fastest on one thread; two threads on a shared 2-core machine stall for seconds.
    Session-wide, so module fixtures run on one thread too: a result must not depend on which fixture made it
    (a training run resumed on another thread count sums in another order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.skip(f"shared test data not found at {TESTDATA}")
    return TESTDATA
