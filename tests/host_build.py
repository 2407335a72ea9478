"""Build a ``tests/cuda_host`` driver: a ``.cu`` file compiled unchanged as host C++ (see shim.h).

``g++ -O1 -std=c++17 -ffp-contract=off`` is the host counterpart of NVRTC ``--fmad=false``: no
contraction of float operations, so the emulated kernels compute what the device would.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent / "cuda_host"


def build_driver(out_dir: Path, driver: str, kernel: str) -> Path:
    """Compile ``cuda_host/<driver>.cpp`` into ``out_dir``; skip without g++, fail naming ``kernel``."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not on the PATH")
    exe = Path(out_dir) / driver
    res = subprocess.run([gxx, "-O1", "-std=c++17", "-ffp-contract=off", "-Wall", "-o", str(exe),
                          str(HERE / f"{driver}.cpp")], capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"g++ failed on the host build of {kernel}:\n{res.stderr[-4000:]}"
    return exe


def call_driver(exe: Path, argv: Iterable, header, *arrays) -> bytes:
    """Run ``exe *argv`` on one request and return its stdout: the request is ``header`` as int64
    then each array's bytes in C order (the drivers read them with launch.h ``take``).
    A failing driver fails the test with the end of its stderr."""
    argv = [str(a) for a in argv]
    req = np.asarray(header, np.int64).tobytes() + b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
    res = subprocess.run([str(exe), *argv], input=req, capture_output=True, check=False)
    assert res.returncode == 0, (f"{Path(exe).name} {' '.join(argv)} exited {res.returncode}:\n"
                                 f"{res.stderr.decode(errors='replace')[-2000:]}")
    return res.stdout
