"""Every CUDA source under kernels/ compiles for sm_90 with nvcc (no GPU needed, only the compiler)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CU_FILES = sorted((Path(__file__).resolve().parents[1] / "kernels").glob("*.cu"))


@pytest.mark.parametrize("cu", CU_FILES, ids=lambda p: p.name)
def test_cuda_source_compiles(cu: Path, tmp_path: Path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on the PATH")
    res = subprocess.run([nvcc, "-arch=sm_90", "-c", str(cu), "-o", str(tmp_path / (cu.stem + ".o"))],
                         capture_output=True, text=True)
    assert res.returncode == 0, f"nvcc failed on {cu.name}:\n{res.stderr[-4000:]}"
