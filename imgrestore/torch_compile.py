"""torch.compile checks shared by training (``fit --compile``) and inference (``restore``,
``eval``, ``bench net --compile``): one probe that fails early with a one-line error, and the
test for errors raised by the compiler stack."""

from __future__ import annotations

import functools
from typing import Iterator

from imgrestore.errors import UserError


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters): an exception in one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    seen = 0
    while exc is not None and seen < 8:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1


def compile_error(exc: BaseException) -> bool:
    """Whether `exc` came out of torch.compile's machinery (dynamo, inductor, a backend)."""
    return any(type(e).__module__.startswith(("torch._dynamo", "torch._inductor")) for e in _causes(exc))


@functools.cache
def compile_probe(device: str) -> str | None:
    """None when torch.compile compiles and correctly runs a tiny function on `device` here,
    else why not in one line (cached per process: the probe costs a compile)."""
    import torch

    def probe(x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * 2.0 + 1.0

    try:
        x = torch.linspace(-1.0, 1.0, 16, device=device)
        got = torch.compile(probe, dynamic=False)(x)
        if not torch.allclose(got.cpu(), probe(x).cpu()):
            return "a compiled test function computed wrong values"
    except Exception as exc:  # any failure of the compiler stack (no C++ compiler, no Triton, ...)
        return first_line(exc)
    return None


def check_compile(device: str, option: str = "--compile") -> None:
    """A machine where torch cannot compile (no C++ compiler for inductor on the CPU, no Triton on
    the GPU, an unsupported platform) is a one-line UserError naming `option`, raised before
    anything is read, trained or written rather than as a traceback at the first step."""
    why = compile_probe(device)
    if why is not None:
        raise UserError(f"{option}: torch cannot compile on {device} here ({why}); run without {option}")
