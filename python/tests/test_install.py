"""`cmake --install` puts the package where the interpreter finds it (into a DESTDIR here, not the system)."""
import os
import pathlib
import subprocess
import sys
import sysconfig

import pytest


def test_cmake_install(tmp_path):
    build = os.environ.get("LIEDNET_BUILD_DIR")
    if not build:
        pytest.skip("LIEDNET_BUILD_DIR is not set (ctest sets it)")
    env = dict(os.environ, DESTDIR=str(tmp_path))
    subprocess.run(["cmake", "--install", build], check=True, env=env, capture_output=True)
    platlib = tmp_path / pathlib.Path(sysconfig.get_path("platlib")).relative_to("/")
    assert (platlib / "liednet" / "__init__.py").exists() and list((platlib / "liednet").glob("_liednet*.so"))
    assert (platlib / "liednet" / "_liednet.pyi").exists()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(platlib)
    out = subprocess.run([sys.executable, "-c", "import liednet; print(liednet.__file__); help(liednet)"],
                         check=True, env=env, capture_output=True, text=True, cwd=tmp_path).stdout
    assert out.startswith(str(platlib / "liednet")) and "Help on package liednet" in out
