"""Array backends: numpy on CPU, CuPy on GPU, and zero-copy hand-off to torch.

Images everywhere in imgrestore are float32 NHWC arrays with values in [0, 1]. Which array
module holds them is decided once, by :func:`resolve_device`; code that must work on either
asks :func:`array_module` for the module of the array it was given.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from imgrestore.errors import DeviceError

Device = Literal["cpu", "cuda"]
DEVICE_CHOICES = ("cpu", "cuda", "auto")


@functools.cache
def gpu_status() -> tuple[bool, str]:
    """(available, reason): whether CuPy imports and sees at least one CUDA device."""
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        return False, f"CuPy is not installed ({type(exc).__name__}); install imgrestore[gpu]"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"CuPy found no usable CUDA driver ({exc})"
    if n < 1:
        return False, "CuPy sees no CUDA device"
    return True, f"{n} CUDA device(s)"


def gpu_available() -> bool:
    return gpu_status()[0]


def resolve_device(device: str) -> Device:
    """Turn a user's `cpu|cuda|auto` into a device this machine has, or raise DeviceError."""
    device = (device or "auto").lower()
    if device not in DEVICE_CHOICES:
        raise DeviceError(f"--device {device!r}: expected one of cpu, cuda, auto")
    ok, why = gpu_status()
    if device == "auto":
        return "cuda" if ok else "cpu"
    if device == "cuda" and not ok:
        raise DeviceError(f"--device cuda: no GPU available here: {why}; use --device cpu or auto")
    return device  # type: ignore[return-value]


def xp_for(device: Device):
    """The array module (numpy or cupy) for a resolved device."""
    if device == "cuda":
        import cupy

        return cupy
    import numpy

    return numpy


def array_module(x: Any):
    """numpy or cupy, whichever owns `x` (numpy for anything that is not a CuPy array)."""
    mod = type(x).__module__
    if mod.startswith("cupy"):
        import cupy

        return cupy
    import numpy

    return numpy


def on_device_of(x: Any):
    """A context that makes `x`'s GPU current while new arrays are allocated beside it (a
    no-op for numpy): CuPy allocates on the current device, kernels launch on the input's."""
    if array_module(x).__name__ == "cupy":
        return x.device
    import contextlib

    return contextlib.nullcontext()


def device_of(x: Any) -> Device:
    return "cuda" if array_module(x).__name__ == "cupy" else "cpu"


def to_device(x: Any, device: Device):
    """Copy an array to `device` (no copy when it is already there)."""
    if device_of(x) == device:
        return x
    if device == "cuda":
        import cupy

        return cupy.asarray(x)
    return x.get()


def to_numpy(x: Any):
    """A host numpy array for `x` (a copy only when `x` lives on the GPU)."""
    return x.get() if device_of(x) == "cuda" else x


def to_torch(x: Any, nchw: bool = True):
    """A torch tensor sharing memory with the NHWC array `x` (DLPack, no copy).

    With ``nchw`` the tensor is a permuted *view* (N, C, H, W) of the same memory; call
    ``.contiguous()`` if a layer needs dense NCHW.
    """
    import torch

    t = torch.from_dlpack(x)
    return t.permute(0, 3, 1, 2) if nchw else t


def from_torch(t: Any, nhwc_from_nchw: bool = True):
    """The numpy/cupy array sharing memory with tensor `t` (DLPack, no copy)."""
    t = t.detach()  # DLPack refuses a tensor that requires grad, on either device
    if nhwc_from_nchw:
        t = t.permute(0, 2, 3, 1)
    if t.is_cuda:
        import cupy

        return cupy.from_dlpack(t)
    import numpy

    return numpy.from_dlpack(t)
