"""imgrestore: plugin-based image restoration toolkit.

The Python API (docs/python-api.md)::

    import imgrestore

    pair = imgrestore.synthesize("awgn:sigma=25", clean, seed=0)   # degrade images in memory
    chain = imgrestore.Chain.load("bicubic:scale=4 | jpeg:quality=30-95")
    model, spec, ckpt = imgrestore.load_network("model.safetensors")
    restored = imgrestore.Restorer(model, spec, device="cpu")(image)
    imgrestore.metrics.psnr(restored, clean)                        # also imgrestore.psnr / ssim
    imgrestore.fit("dncnn-s", "runs/g0", iters=200, device="cpu")   # train, as imgrestore fit

Images are float32, channels last (H,W,C; batches N,H,W,C), in [0, 1]; what arrives otherwise is
converted or refused in one place, :mod:`imgrestore.guards`.

Importing the package is cheap on purpose: every name above is imported on first use (module
``__getattr__``), and heavy dependencies (numba, torch, cupy, scikit-image) only by the functions
that need them, so ``import imgrestore`` and the CLI start at once.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute; None: the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "synthesize": ("imgrestore.api", "synthesize"),
    "fit": ("imgrestore.api", "fit"),
    "Chain": ("imgrestore.chain", "Chain"),
    "Pair": ("imgrestore.degrade.base", "Pair"),
    "load_network": ("imgrestore.registry", "load_network"),
    "save_checkpoint": ("imgrestore.weights.checkpoint", "save_checkpoint"),
    "Restorer": ("imgrestore.restore", "Restorer"),
    "metrics": ("imgrestore.metrics", None),
    "psnr": ("imgrestore.metrics", "psnr"),
    "ssim": ("imgrestore.metrics", "ssim"),
    "read_image": ("imgrestore.io", "read_image"),
    "write_image": ("imgrestore.io", "write_image"),
    "UserError": ("imgrestore.errors", "UserError"),
    "ArrayError": ("imgrestore.guards", "ArrayError"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562), then keep it as a module attribute."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'imgrestore' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _watch_kernel_compiles() -> None:
    # the one-line notice before Numba first compiles the kernels (imgrestore.progress); costs
    # a meta-path entry that only looks at imgrestore.kernels.*_numba imports
    from imgrestore.progress import watch_kernel_imports

    watch_kernel_imports()


_watch_kernel_compiles()
