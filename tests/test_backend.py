"""Backend: device choice, clean errors without a GPU, zero-copy DLPack hand-off to torch."""

import numpy as np
import pytest

from imgrestore import backend
from imgrestore.errors import DeviceError


def test_auto_and_cpu_always_resolve():
    assert backend.resolve_device("cpu") == "cpu"
    assert backend.resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(DeviceError, match="expected one of cpu, cuda, auto"):
        backend.resolve_device("tpu")


def test_cuda_without_gpu_is_one_line_error(monkeypatch):
    monkeypatch.setattr(backend, "gpu_status", lambda: (False, "CuPy is not installed"))
    with pytest.raises(DeviceError) as e:
        backend.resolve_device("cuda")
    assert "--device cuda" in str(e.value) and "\n" not in str(e.value)
    assert backend.resolve_device("auto") == "cpu"


def test_torch_handoff_is_zero_copy():
    pytest.importorskip("torch")
    x = np.random.default_rng(0).random((2, 5, 7, 3), dtype=np.float32)
    t = backend.to_torch(x)
    assert tuple(t.shape) == (2, 3, 5, 7)
    t[1, 2, 3, 4] = 42.0  # writes through to the numpy array
    assert x[1, 3, 4, 2] == 42.0
    back = backend.from_torch(t)
    assert np.shares_memory(back, x) and np.array_equal(back, x)
    assert t.data_ptr() == x.ctypes.data


@pytest.mark.gpu
def test_cupy_torch_handoff_is_zero_copy():
    import cupy

    x = cupy.random.random((2, 4, 6, 3), dtype=cupy.float32)
    t = backend.to_torch(x)
    assert t.is_cuda and t.data_ptr() == x.data.ptr
    assert backend.resolve_device("cuda") == "cuda"
