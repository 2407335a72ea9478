"""NVRTC loading shared by the CuPy launchers (``*_cuda.py``): a ``.cu`` file of this folder
compiled once per process, CuPy module and device, its kernels looked up by name.

Imports nothing heavy: each launcher passes the ``cupy`` it is bound to, so a test's fake CuPy
(tests/fake_cupy.py) compiles its own copy and a launcher never gets kernels of another CuPy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

KERNEL_DIR = Path(__file__).resolve().parent  # the .cu files, and the -I path of those that include others
MAX_GRID = 65535  # CUDA's limit on gridDim.y and gridDim.z (the launchers clamp the sample axis to it)

# (the cupy module, {(cu_name, names, options, device): {name: kernel}}); reset when another
# cupy module asks (only tests swap it), so a fake's kernels are not kept alive after its test
_compiled: list[Any] = [None, {}]


def module_functions(cupy: Any, cu_name: str, names: tuple[str, ...], options: tuple[str, ...],
                     device_id: int) -> dict[str, Any]:
    """{name: cupy.RawKernel} of ``names`` in ``KERNEL_DIR / cu_name`` compiled with NVRTC
    ``options`` on device ``device_id``; compiled on the first call, cached after it."""
    if _compiled[0] is not cupy:
        _compiled[:] = [cupy, {}]
    cache = _compiled[1]
    key = (cu_name, tuple(names), tuple(options), device_id)
    hit = cache.get(key)
    if hit is None:
        src = (KERNEL_DIR / cu_name).read_text()
        with cupy.cuda.Device(device_id):
            mod = cupy.RawModule(code=src, options=tuple(options))
            hit = cache[key] = {k: mod.get_function(k) for k in names}
    return hit
