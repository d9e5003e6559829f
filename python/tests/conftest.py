"""pytest set-up: the module comes from PYTHONPATH (build/python, as ctest sets it); torch is a test oracle only."""
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "oracle"))  # the PyTorch reference model (liednet_ref, ops_scan)


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="torch (Debian's python3-torch) is the oracle of these tests")


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
