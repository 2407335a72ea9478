"""A minimal fake ``cupy`` backed by NumPy, to check the CuPy launch code without a GPU.

:func:`new_cupy` returns a fresh module object named ``cupy`` (the tests put it into
``sys.modules`` with :func:`install` and make the launchers import afresh against it with
:func:`forget_launchers`, both through ``monkeypatch``, so nothing leaks). It has only what the
launchers ``kernels/*_cuda.py`` and the CuPy paths of the dispatchers and plugins use:

* ``ndarray``: a NumPy array plus a device id. Like CuPy it refuses implicit conversion to NumPy
  (``np.asarray(x)`` raises; use ``.get()``) and arithmetic with NumPy arrays, and checks that
  the operands of an operation live on one device. ``cupy.empty`` fills floats with NaN
  (uninitialised memory), so an output no kernel wrote shows up.
* creation and a few routines (``asarray``, ``ascontiguousarray``, ``empty``, ``zeros``,
  ``*_like``, ``arange``, ``where``, ``clip``, ``repeat``), the dtype names, and
  ``cuda.Device`` as a context manager that sets the current device (``ndarray.device`` too).
* ``RawModule`` / ``RawKernel``: the CUDA source is parsed (``#include "..."`` resolved on the
  ``-I`` paths of the options, as NVRTC would, else it "fails to compile") and every
  ``extern "C" __global__`` signature is read (:func:`parse_kernels`). ``get_function`` returns a
  :class:`FakeKernel` that computes nothing: a call validates grid, block and each argument
  against the signature (exact NumPy scalar type for scalars; a CuPy array of the pointee's dtype,
  C-contiguous and on the current device for pointers; no overlap between a written
  ``__restrict__`` pointer and any other pointer argument), then runs the per-kernel check the
  test registered in ``cupy._contracts`` (sizes, ranges, coverage of the grid), records the
  :class:`Launch` in ``cupy._launches`` and "writes" its non-const float outputs with 0.25.
  Any problem raises :class:`LaunchError` at the launch, so the traceback shows the culprit call.
* ``cuda.runtime.getDeviceCount`` (``device_count`` devices; none is ``CUDARuntimeError``
  cudaErrorNoDevice, as CuPy raises), and ``cuda.Device(i)`` refuses ``i >= device_count`` when made
  current (cudaErrorInvalidDevice).
* ``stack``, ``concatenate``, ``broadcast_to``: CuPy arrays of one device only (a NumPy array in
  the sequence is a ``TypeError``, as in CuPy).
* ``random.RandomState(seed)``: CuPy's seed rules (an integer in [0, 2**64), a NumPy array hashed
  with MD5, ``None`` from ``os.urandom``); ``standard_normal``/``normal``/``random_sample`` with
  ``dtype`` float32 or float64 only; the generator belongs to the device current when it was made
  (CuPy: "the state is available only on the device which has been current at the
  initialization"), so drawing with another device current raises. The numbers come from NumPy's
  Philox keyed by the seed: the same seed gives the same stream, but they are not cuRAND's
  (XORWOW) numbers, nor those of NumPy's ``default_rng``/``SeedSequence`` that a CPU path uses.
* DLPack: ``ndarray.__dlpack__`` / ``__dlpack_device__`` export the array without a copy, but as
  **host** memory (kDLCPU, since the fake's memory is host memory; real CuPy says kDLCUDA and the
  device id), so ``torch.from_dlpack`` gives a CPU tensor sharing the fake array's buffer.
  ``ndarray.data.ptr`` is the address of the first element, like CuPy's ``MemoryPointer``.
  ``from_dlpack(obj)`` wraps a producer's memory without a copy (on the producer's fake device, or
  the current one for a foreign producer); it takes kDLCPU producers, the fake's "device" memory,
  where real CuPy wants a CUDA one. The producer's own refusals (torch: a tensor that requires
  grad) surface as they would.
"""

from __future__ import annotations

import hashlib
import os
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

# --------------------------------------------------------------------------------------------
# CUDA C signatures
# --------------------------------------------------------------------------------------------

C_TYPES: dict[str, type] = {
    "float": np.float32, "double": np.float64,
    "int": np.int32, "signed": np.int32, "signed int": np.int32, "int32_t": np.int32,
    "unsigned": np.uint32, "unsigned int": np.uint32, "uint32_t": np.uint32,
    "long long": np.int64, "long long int": np.int64, "signed long long": np.int64,
    "signed long long int": np.int64, "int64_t": np.int64, "long": np.int64, "long int": np.int64,
    "ptrdiff_t": np.int64,
    "unsigned long long": np.uint64, "unsigned long long int": np.uint64, "uint64_t": np.uint64,
    "unsigned long": np.uint64, "size_t": np.uint64,
    "short": np.int16, "int16_t": np.int16, "unsigned short": np.uint16, "uint16_t": np.uint16,
    "char": np.int8, "signed char": np.int8, "int8_t": np.int8, "unsigned char": np.uint8, "uint8_t": np.uint8,
    "bool": np.bool_, "half": np.float16, "__half": np.float16,
}
_QUALIFIERS = {"const", "volatile", "__restrict__", "__restrict", "restrict"}
_KERNEL_RE = re.compile(
    r'extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+'
    r'(?:__launch_bounds__\s*\([^)]*\)\s*)?([A-Za-z_]\w*)\s*\(([^)]*)\)')


class SignatureError(ValueError):
    pass


@dataclass(frozen=True)
class Param:
    name: str
    ctype: str  # the base type as written, qualifiers dropped ("unsigned int", "long long")
    dtype: np.dtype  # the scalar's type, or the pointee's for a pointer
    pointer: bool
    const: bool  # pointer to const (read-only through this argument)
    restrict: bool

    def __str__(self) -> str:
        return f"{'const ' if self.const else ''}{self.ctype}{'*' if self.pointer else ''} {self.name}"


@dataclass(frozen=True)
class Kernel:
    name: str
    params: tuple[Param, ...]


def strip_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def _param(text: str, kernel: str) -> Param:
    if "[" in text or "(" in text or "&" in text:
        raise SignatureError(f"{kernel}: unsupported parameter declaration {text.strip()!r}")
    tokens = re.findall(r"\*|[A-Za-z_]\w*", text)
    stars = tokens.count("*")
    if stars > 1:
        raise SignatureError(f"{kernel}: pointer to pointer is not supported: {text.strip()!r}")
    idents = [t for t in tokens if t != "*"]
    if len(idents) < 2:
        raise SignatureError(f"{kernel}: parameter without a name: {text.strip()!r}")
    name = idents[-1]
    before = tokens[: tokens.index("*")] if stars else tokens[:-1]
    base = " ".join(t for t in (tokens[:-1] if not stars else tokens) if t != "*" and t not in _QUALIFIERS
                    and t != name)
    if base not in C_TYPES:
        raise SignatureError(f"{kernel}: parameter {name}: unknown C type {base!r}")
    return Param(name=name, ctype=base, dtype=np.dtype(C_TYPES[base]), pointer=bool(stars),
                 const=bool(stars) and "const" in before,
                 restrict=bool(stars) and any(t in ("__restrict__", "__restrict", "restrict") for t in tokens))


def parse_kernels(src: str) -> dict[str, Kernel]:
    """Every ``extern "C" __global__`` kernel of a CUDA source: name -> :class:`Kernel`.

    Raises :class:`SignatureError` on a ``__global__`` function this parser cannot read (so none
    is silently skipped) or on a parameter type it does not know.
    """
    code = strip_comments(src)
    found = {}
    for m in _KERNEL_RE.finditer(code):
        name, plist = m.group(1), m.group(2).strip()
        params = () if plist in ("", "void") else tuple(_param(p, name) for p in plist.split(","))
        if name in found:
            raise SignatureError(f"kernel {name} defined twice")
        found[name] = Kernel(name, params)
    n_global = len(re.findall(r"\b__global__\b", code))
    if n_global != len(found):
        raise SignatureError(f"{n_global} __global__ functions but {len(found)} parsed as extern \"C\" kernels")
    return found


def include_dirs(options) -> list[Path]:
    dirs, opts = [], list(options)
    for i, o in enumerate(opts):
        if o in ("-I", "--include-path") and i + 1 < len(opts):
            dirs.append(Path(opts[i + 1]))
        elif o.startswith("--include-path="):
            dirs.append(Path(o.split("=", 1)[1]))
        elif o.startswith("-I") and len(o) > 2:
            dirs.append(Path(o[2:]))
    return dirs


def expand_includes(src: str, dirs: list[Path], _seen: frozenset = frozenset()) -> str:
    """Inline ``#include "file"`` from the include directories (NVRTC compiles a string: it has
    no file of its own to search next to)."""

    def inline(m: re.Match) -> str:
        rel = m.group(1)
        for d in dirs:
            p = (d / rel).resolve()
            if p.is_file():
                if p in _seen:
                    return ""
                return expand_includes(p.read_text(), dirs, _seen | {p})
        raise CompileError(f'catastrophic error: cannot open source file "{rel}" (include path: {[str(d) for d in dirs]})')

    return re.sub(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', inline, src, flags=re.M)


class CompileError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# launches
# --------------------------------------------------------------------------------------------


class LaunchError(AssertionError):
    pass


@dataclass
class Launch:
    name: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: tuple
    device: int
    options: tuple
    kernel: Kernel
    ok: bool = False
    named: dict[str, Any] = field(default_factory=dict)  # parameter name -> Python int/float or ndarray
    shared_mem: int = 0  # dynamic shared memory bytes of the launch

    def __getitem__(self, key: str):
        return self.named[key]


MAX_BLOCK_XY, MAX_BLOCK_Z, MAX_THREADS = 1024, 64, 1024
MAX_GRID_X, MAX_GRID_YZ = 2**31 - 1, 65535
MAX_SHARED = 48 * 1024


def _dims(v, what: str, problems: list[str]) -> tuple[int, int, int]:
    # CuPy's Function.__call__(self, tuple grid, tuple block, ...): a list or a bare int is a TypeError
    if not isinstance(v, tuple) or not 1 <= len(v) <= 3 or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) for d in v):
        problems.append(f"{what} must be a tuple of 1-3 ints, got {v!r}")
        return (1, 1, 1)
    d = tuple(int(x) for x in v) + (1,) * (3 - len(v))
    return d  # type: ignore[return-value]


def check_launch(kernel: Kernel, grid, block, args, shared_mem, ndarray_type, current_device) -> tuple[list[str], tuple, tuple]:
    """Problems of one launch, as CuPy would marshal it, against the C signature."""
    problems: list[str] = []
    g = _dims(grid, "grid", problems)
    b = _dims(block, "block", problems)
    if any(d < 1 for d in g):
        problems.append(f"grid {g}: every dimension must be >= 1 (CuPy would silently launch max(1, 0) blocks)")
    if g[0] > MAX_GRID_X or g[1] > MAX_GRID_YZ or g[2] > MAX_GRID_YZ:
        problems.append(f"grid {g} exceeds the CUDA limits (x <= {MAX_GRID_X}, y, z <= {MAX_GRID_YZ})")
    if any(d < 1 for d in b):
        problems.append(f"block {b}: every dimension must be >= 1")
    if b[0] > MAX_BLOCK_XY or b[1] > MAX_BLOCK_XY or b[2] > MAX_BLOCK_Z or b[0] * b[1] * b[2] > MAX_THREADS:
        problems.append(f"block {b} exceeds the CUDA limits (x, y <= 1024, z <= 64, x*y*z <= 1024)")
    if not isinstance(shared_mem, (int, np.integer)) or not 0 <= int(shared_mem) <= MAX_SHARED:
        problems.append(f"shared_mem {shared_mem!r} not an int in [0, {MAX_SHARED}]")
    if not isinstance(args, (tuple, list)):
        problems.append(f"args must be a tuple or list, got {type(args).__name__}")
        return problems, g, b
    if len(args) != len(kernel.params):
        problems.append(f"{len(args)} arguments for {len(kernel.params)} parameters "
                        f"({', '.join(map(str, kernel.params))})")
    for i, (p, a) in enumerate(zip(kernel.params, args)):
        where = f"argument {i} ({p})"
        if p.pointer:
            if not isinstance(a, ndarray_type):
                problems.append(f"{where}: needs a cupy.ndarray, got {type(a).__module__}.{type(a).__name__}")
                continue
            if a.dtype != p.dtype:
                problems.append(f"{where}: array dtype {a.dtype} != pointee {p.dtype} ({p.ctype})")
            if not a.flags.c_contiguous:
                problems.append(f"{where}: array of shape {a.shape} is not C-contiguous (strides {a.strides})")
            if a._dev != current_device:
                problems.append(f"{where}: array on device {a._dev}, launch on device {current_device}")
        else:
            if isinstance(a, ndarray_type):
                problems.append(f"{where}: a cupy.ndarray is passed as a pointer, the kernel takes a {p.ctype}")
            elif not isinstance(a, np.generic):
                problems.append(f"{where}: Python {type(a).__name__} {a!r}; CuPy passes it as "
                                f"{'int64' if isinstance(a, int) else 'float64' if isinstance(a, float) else '?'}, "
                                f"the kernel takes a {p.ctype}: wrap it in np.{p.dtype.name}")
            elif a.dtype != p.dtype:
                problems.append(f"{where}: np.{a.dtype.name} for a {p.ctype} (needs np.{p.dtype.name})")
    # __restrict__: nothing written through one pointer may be reached through another
    ptrs = [(p, a) for p, a in zip(kernel.params, args) if p.pointer and isinstance(a, ndarray_type)]
    for i, (p, a) in enumerate(ptrs):
        for q, c in ptrs[i + 1:]:
            if (not p.const or not q.const) and (p.restrict or q.restrict) and a.size and c.size \
                    and np.may_share_memory(a._a, c._a):
                problems.append(f"{p.name} and {q.name} overlap, but are __restrict__ and one is written")
    return problems, g, b


def _py(a):
    return a.item() if isinstance(a, np.generic) else a


# --------------------------------------------------------------------------------------------
# the module
# --------------------------------------------------------------------------------------------


def new_cupy(contracts: dict[str, Callable[[Launch], list[str]]] | None = None,
             device_count: int = 2) -> types.ModuleType:
    """A fresh fake ``cupy`` module (its own device state and launch log) that sees
    ``device_count`` CUDA devices."""
    cp = types.ModuleType("cupy")
    cp.__file__ = __file__
    state = types.SimpleNamespace(stack=[0])
    cp._launches: list[Launch] = []
    cp._modules: list[tuple[str, tuple]] = []  # (code, options) of each RawModule
    cp._contracts = dict(contracts or {})

    def current() -> int:
        return state.stack[-1]

    class CUDARuntimeError(RuntimeError):
        pass

    CUDARuntimeError.__module__ = "cupy_backends.cuda.api.runtime"

    def _check_device(i: int) -> None:
        if not 0 <= i < device_count:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    class Device:
        def __init__(self, device=None):
            self.id = current() if device is None else int(device)

        def __enter__(self):
            _check_device(self.id)
            state.stack.append(self.id)
            return self

        def __exit__(self, *exc):
            state.stack.pop()
            return False

        def use(self):
            _check_device(self.id)
            state.stack[-1] = self.id

        def __eq__(self, other):
            return isinstance(other, Device) and other.id == self.id

        def __hash__(self):
            return hash(self.id)

        def __repr__(self):
            return f"<CUDA Device {self.id}>"

    def unwrap(v, dev: int, what: str, allow_numpy: bool = False):
        if isinstance(v, ndarray):
            if v._dev != dev:
                raise ValueError(f"{what}: array on device {v._dev} used with one on device {dev}")
            return v._a
        if isinstance(v, np.ndarray) and not allow_numpy:
            raise TypeError(f"Unsupported type {type(v)}")
        if isinstance(v, (tuple, list)):
            return type(v)(unwrap(x, dev, what, allow_numpy) for x in v)
        return v

    def wrap(a, dev: int):
        if isinstance(a, np.ndarray):
            return ndarray(a, dev)
        if isinstance(a, np.generic):  # CuPy returns 0-d arrays, never scalars
            return ndarray(np.asarray(a), dev)
        return a

    def binop(name: str, reflected: bool = False, inplace: bool = False):
        op = getattr(np.ndarray, name)

        def f(self, other):
            o = unwrap(other, self._dev, name)
            if inplace:
                op(self._a, o)
                return self
            return wrap(op(self._a, o), self._dev)

        f.__name__ = name
        return f

    class ndarray:
        __slots__ = ("_a", "_dev")
        __array_ufunc__ = None  # NumPy defers to our (reflected) operators, which refuse NumPy arrays
        __hash__ = None

        def __init__(self, a: np.ndarray, dev: int):
            self._a = a
            self._dev = dev

        def __array__(self, *args, **kwargs):
            raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                            "Please use `.get()` to construct a NumPy array explicitly.")

        # attributes
        shape = property(lambda s: s._a.shape)
        ndim = property(lambda s: s._a.ndim)
        size = property(lambda s: s._a.size)
        dtype = property(lambda s: s._a.dtype)
        strides = property(lambda s: s._a.strides)
        itemsize = property(lambda s: s._a.itemsize)
        nbytes = property(lambda s: s._a.nbytes)
        flags = property(lambda s: s._a.flags)
        T = property(lambda s: ndarray(s._a.T, s._dev))
        device = property(lambda s: Device(s._dev))
        data = property(lambda s: types.SimpleNamespace(ptr=s._a.ctypes.data if s._a.size else 0, device_id=s._dev))

        def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
            # the fake's memory is host memory: export it as kDLCPU (CuPy: kDLCUDA, this device)
            kw = {k: v for k, v in dict(max_version=max_version, dl_device=dl_device, copy=copy).items()
                  if v is not None}
            return self._a.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self._a.__dlpack_device__()

        def __len__(self):
            return len(self._a)

        def __iter__(self):
            return (wrap(r, self._dev) for r in self._a)

        def __repr__(self):
            return f"fake_cupy.ndarray(shape={self.shape}, dtype={self.dtype}, device={self._dev})"

        def __bool__(self):
            return bool(self._a)

        def __int__(self):
            return int(self._a)

        def __float__(self):
            return float(self._a)

        def item(self):
            return self._a.item()

        def get(self, stream=None, order="C", out=None, blocking=True):
            if out is not None:
                out[...] = self._a
                return out
            return np.array(self._a, order=order, copy=True)

        def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
            a = self._a.astype(dtype, order=order, copy=copy, **({"casting": casting} if casting else {}))
            return self if a is self._a else ndarray(a, self._dev)

        def copy(self, order="C"):
            return ndarray(self._a.copy(order=order), self._dev)

        def reshape(self, *shape, order="C"):
            return ndarray(self._a.reshape(*shape, order=order), self._dev)

        def ravel(self, order="C"):
            return ndarray(self._a.ravel(order=order), self._dev)

        def transpose(self, *axes):
            return ndarray(self._a.transpose(*axes), self._dev)

        def fill(self, v):
            self._a.fill(v)

        def _reduce(name):
            def f(self, *args, **kwargs):
                return wrap(getattr(self._a, name)(*args, **kwargs), self._dev)
            f.__name__ = name
            return f

        sum, min, max = _reduce("sum"), _reduce("min"), _reduce("max")
        mean, any, all = _reduce("mean"), _reduce("any"), _reduce("all")

        def __getitem__(self, key):
            return wrap(self._a[unwrap(key, self._dev, "index", allow_numpy=True)], self._dev)

        def __setitem__(self, key, value):
            self._a[unwrap(key, self._dev, "index", allow_numpy=True)] = unwrap(value, self._dev, "value",
                                                                                allow_numpy=True)

        def __neg__(self):
            return ndarray(-self._a, self._dev)

        def __pos__(self):
            return ndarray(+self._a, self._dev)

        def __invert__(self):
            return ndarray(~self._a, self._dev)

        def __abs__(self):
            return ndarray(abs(self._a), self._dev)

    for base in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
                 "lshift", "rshift"):
        setattr(ndarray, f"__{base}__", binop(f"__{base}__"))
        setattr(ndarray, f"__r{base}__", binop(f"__r{base}__"))
        setattr(ndarray, f"__i{base}__", binop(f"__i{base}__", inplace=True))
    for cmp in ("eq", "ne", "lt", "le", "gt", "ge"):
        setattr(ndarray, f"__{cmp}__", binop(f"__{cmp}__"))
    ndarray.__module__ = "cupy"  # imgrestore.backend.array_module goes by the type's module
    ndarray.__qualname__ = "ndarray"

    # ---- creation and routines ---------------------------------------------------------------
    def _fill_empty(a: np.ndarray) -> np.ndarray:
        if a.dtype.kind in "fc":
            a.fill(np.nan)
        else:
            a.fill(0)
        return a

    def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
        if isinstance(obj, ndarray):
            return ndarray(np.array(obj._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin), obj._dev)
        return ndarray(np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin), current())

    def asarray(a, dtype=None, order=None, *, blocking=False):
        if isinstance(a, ndarray):
            if (dtype is None or np.dtype(dtype) == a.dtype) and order in (None, "K", "A"):
                return a
            return ndarray(np.asarray(a._a, dtype=dtype, order=order), a._dev)
        return ndarray(np.array(a, dtype=dtype, order=order or "K", copy=True), current())

    def ascontiguousarray(a, dtype=None):
        if isinstance(a, ndarray):
            b = np.ascontiguousarray(a._a, dtype=dtype)
            return a if b is a._a else ndarray(b, a._dev)
        return ndarray(np.array(a, dtype=dtype, order="C", ndmin=1, copy=True), current())

    def empty(shape, dtype=float, order="C"):
        return ndarray(_fill_empty(np.empty(shape, dtype=dtype, order=order)), current())

    def zeros(shape, dtype=float, order="C"):
        return ndarray(np.zeros(shape, dtype=dtype, order=order), current())

    def ones(shape, dtype=float, order="C"):
        return ndarray(np.ones(shape, dtype=dtype, order=order), current())

    def _like(fn):
        def f(a, dtype=None, order="K", subok=None, shape=None):
            if not isinstance(a, ndarray):
                raise TypeError(f"Unsupported type {type(a)}")
            b = fn(a._a, dtype=dtype, order=order, shape=shape)
            return ndarray(_fill_empty(b) if fn is np.empty_like else b, current())
        f.__name__ = fn.__name__
        return f

    def arange(start, stop=None, step=None, dtype=None):
        args = [v for v in (start, stop, step) if v is not None]
        return ndarray(np.arange(*args, dtype=dtype), current())

    def where(condition, x=None, y=None):
        dev = condition._dev if isinstance(condition, ndarray) else current()
        if x is None and y is None:
            return tuple(ndarray(i, dev) for i in np.nonzero(unwrap(condition, dev, "where")))
        return ndarray(np.asarray(np.where(unwrap(condition, dev, "where"), unwrap(x, dev, "where"),
                                           unwrap(y, dev, "where"))), dev)

    def clip(a, a_min, a_max, out=None):
        r = np.clip(unwrap(a, a._dev, "clip"), unwrap(a_min, a._dev, "clip"), unwrap(a_max, a._dev, "clip"),
                    out=None if out is None else unwrap(out, a._dev, "clip"))
        return out if out is not None else ndarray(r, a._dev)

    def repeat(a, repeats, axis=None):
        return ndarray(np.repeat(unwrap(a, a._dev, "repeat"), repeats, axis=axis), a._dev)

    def _same_device(arrays, what: str) -> int:
        arrays = list(arrays)
        for a in arrays:
            if not isinstance(a, ndarray):
                raise TypeError(f"{what}: Only cupy arrays can be {what}d, got {type(a).__module__}.{type(a).__name__}")
        if not arrays:
            raise ValueError(f"need at least one array to {what}")
        devs = {a._dev for a in arrays}
        if len(devs) > 1:
            raise ValueError(f"{what}: arrays on devices {sorted(devs)}")
        return devs.pop()

    def stack(tup, axis=0, out=None, *, dtype=None, casting="same_kind"):
        dev = _same_device(tup, "stack")
        if out is not None:
            np.stack([a._a for a in tup], axis=axis, out=unwrap(out, dev, "stack"), dtype=dtype, casting=casting)
            return out
        return ndarray(np.stack([a._a for a in tup], axis=axis, dtype=dtype, casting=casting), dev)

    def concatenate(tup, axis=0, out=None, *, dtype=None, casting="same_kind"):
        dev = _same_device(tup, "concatenate")
        if out is not None:
            np.concatenate([a._a for a in tup], axis=axis, out=unwrap(out, dev, "concatenate"), dtype=dtype,
                           casting=casting)
            return out
        return ndarray(np.concatenate([a._a for a in tup], axis=axis, dtype=dtype, casting=casting), dev)

    def broadcast_to(array, shape):
        if not isinstance(array, ndarray):
            raise TypeError(f"Unsupported type {type(array)}")
        return ndarray(np.broadcast_to(array._a, shape), array._dev)

    def from_dlpack(array, *, device=None, copy=None):
        if not hasattr(array, "__dlpack__") or not hasattr(array, "__dlpack_device__"):
            raise TypeError("from_dlpack: the fake takes objects with __dlpack__ and __dlpack_device__, not capsules")
        dev = array._dev if isinstance(array, ndarray) else current()
        return ndarray(np.from_dlpack(array, **({"copy": copy} if copy is not None else {})), dev)

    def get_array_module(*args):
        return cp if any(isinstance(a, ndarray) for a in args) else np

    def asnumpy(a, stream=None, order="C", out=None, blocking=True):
        return a.get(order=order, out=out) if isinstance(a, ndarray) else np.asarray(a, order=order)

    # ---- kernels -----------------------------------------------------------------------------
    class FakeKernel:
        def __init__(self, kernel: Kernel, options: tuple):
            self.kernel = kernel
            self.name = kernel.name
            self.options = options

        def __call__(self, grid, block, args, *, shared_mem=0, stream=None, enable_cooperative_groups=False):
            dev = current()
            problems, g, b = check_launch(self.kernel, grid, block, args, shared_mem, ndarray, dev)
            rec = Launch(self.name, g, b, tuple(args) if isinstance(args, (tuple, list)) else (args,), dev,
                         self.options, self.kernel)
            rec.shared_mem = int(shared_mem) if isinstance(shared_mem, (int, np.integer)) else -1
            cp._launches.append(rec)
            if not problems:
                rec.named = {p.name: _py(a) for p, a in zip(self.kernel.params, rec.args)}
                check = cp._contracts.get(self.name)
                if check is not None:
                    problems = list(check(rec))
            if problems:
                raise LaunchError(f"launch of {self.name} grid={g} block={b}:\n  " + "\n  ".join(problems))
            rec.ok = True
            for p, a in zip(self.kernel.params, rec.args):
                if p.pointer and not p.const and a.dtype.kind == "f":
                    a._a[...] = 0.25  # stands for the kernel's output

    class RawModule:
        def __init__(self, code=None, *, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                     enable_cooperative_groups=False, name_expressions=None, jitify=False):
            if code is None:
                raise TypeError("RawModule: the fake only supports code= (NVRTC from a string)")
            if not isinstance(options, tuple) or not all(isinstance(o, str) for o in options):
                raise TypeError(f"RawModule: options must be a tuple of str, got {options!r}")
            self.code, self.options = code, options
            self.kernels = parse_kernels(expand_includes(code, include_dirs(options)))
            cp._modules.append((code, options))

        def get_function(self, name: str) -> FakeKernel:
            if name not in self.kernels:
                raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name!r}")
            return FakeKernel(self.kernels[name], self.options)

    def RawKernel(code, name, options=(), backend="nvrtc", translate_cucomplex=False,
                  enable_cooperative_groups=False, jitify=False):
        return RawModule(code=code, options=tuple(options)).get_function(name)

    # ---- random ------------------------------------------------------------------------------
    _UINT64_MAX = 2**64 - 1

    def _float_dtype(dtype) -> np.dtype:
        dt = np.dtype(dtype)
        if dt.char not in "fd":
            raise TypeError(f"cupy.random only supports float32 and float64 (got {dt})")
        return dt

    class RandomState:
        """CuPy's cuRAND-backed RandomState, with NumPy's Philox standing in for cuRAND."""

        def __init__(self, seed=None, method=None):
            self._dev = current()  # the curand generator lives on the device current now
            self.method = method
            self.seed(seed)

        def seed(self, seed=None):
            if seed is None:
                seed = int.from_bytes(os.urandom(8), "big")
            elif isinstance(seed, np.ndarray):
                seed = int(hashlib.md5(seed).hexdigest()[:16], 16)
            else:
                arr = np.asarray(seed)
                if arr.dtype.kind not in "biu":
                    raise TypeError("Seed must be an integer.")
                seed = int(arr)
                if not 0 <= seed <= _UINT64_MAX:
                    raise ValueError("Seed must be an integer between 0 and 2**64 - 1")
            self._rk_seed = seed
            self._gen = np.random.Generator(np.random.Philox(key=seed))

        def _out_device(self) -> int:
            if current() != self._dev:
                raise CUDARuntimeError(f"RandomState made on device {self._dev} used with device {current()} "
                                       "current (its state is available only on the device current at creation)")
            return self._dev

        def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
            dt = _float_dtype(dtype)
            dev = self._out_device()
            if isinstance(loc, ndarray) or isinstance(scale, ndarray):
                raise NotImplementedError("the fake draws with scalar loc and scale only")
            if size is None:
                size = np.broadcast_shapes(np.shape(loc), np.shape(scale))
            z = self._gen.standard_normal(size, dtype=dt)
            if loc != 0.0 or scale != 1.0:
                z = (z * dt.type(scale) + dt.type(loc)).astype(dt, copy=False)
            return ndarray(np.asarray(z, dtype=dt), dev)

        def standard_normal(self, size=None, dtype=float):
            return self.normal(size=size, dtype=dtype)

        def random_sample(self, size=None, dtype=float):
            dt = _float_dtype(dtype)
            dev = self._out_device()
            return ndarray(np.asarray(self._gen.random(() if size is None else size, dtype=dt)), dev)

        def rand(self, *size, dtype=float):
            return self.random_sample(size=size, dtype=dtype)

        def randn(self, *size, dtype=float):
            return self.normal(size=size, dtype=dtype)

    random = types.ModuleType("cupy.random")
    random.RandomState = RandomState

    runtime = types.ModuleType("cupy.cuda.runtime")
    runtime.CUDARuntimeError = CUDARuntimeError

    def getDeviceCount() -> int:
        if device_count < 1:
            raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return device_count

    runtime.getDeviceCount = getDeviceCount
    runtime.getDevice = current
    runtime.deviceSynchronize = lambda: None
    # (free, total) bytes of the current device; tests shrink cp._mem_free to reach out-of-memory paths
    cp._mem_free, cp._mem_total = 130 * 2**30, 140 * 2**30
    runtime.memGetInfo = lambda: (cp._mem_free, cp._mem_total)

    cuda = types.ModuleType("cupy.cuda")
    cuda.Device = Device
    cuda.runtime = runtime
    cp.cuda = cuda
    cp.random = random
    cp.ndarray = ndarray
    cp.RawModule = RawModule
    cp.RawKernel = RawKernel
    for name, fn in dict(array=array, asarray=asarray, ascontiguousarray=ascontiguousarray, empty=empty,
                         zeros=zeros, ones=ones, empty_like=_like(np.empty_like), zeros_like=_like(np.zeros_like),
                         arange=arange, where=where, clip=clip, repeat=repeat, stack=stack, concatenate=concatenate,
                         broadcast_to=broadcast_to, from_dlpack=from_dlpack, get_array_module=get_array_module,
                         asnumpy=asnumpy).items():
        setattr(cp, name, fn)
    for t in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
              "uint64", "bool_", "intp", "dtype"):
        setattr(cp, t, getattr(np, t))
    return cp


def cupyx_modules(cp) -> dict[str, types.ModuleType]:
    """Fake ``cupyx``, ``cupyx.scipy`` and ``cupyx.scipy.ndimage`` for the fake ``cp``: just
    ``gaussian_filter`` (scipy's on the host copy, the result on the array's device), for code
    that blurs a batch where it lives (kernels/tone.py). Put them in ``sys.modules`` beside cupy."""
    from scipy import ndimage as host

    def gaussian_filter(a, sigma, **kw):
        if not isinstance(a, cp.ndarray):
            raise TypeError(f"fake cupyx.scipy.ndimage.gaussian_filter: needs a cupy.ndarray, got {type(a).__name__}")
        out = host.gaussian_filter(a.get(), sigma, **kw)
        with cp.cuda.Device(a._dev):
            return cp.asarray(out)

    root, sci, ndi = (types.ModuleType(n) for n in ("cupyx", "cupyx.scipy", "cupyx.scipy.ndimage"))
    ndi.gaussian_filter = gaussian_filter
    root.scipy, sci.ndimage = sci, ndi
    return {"cupyx": root, "cupyx.scipy": sci, "cupyx.scipy.ndimage": ndi}


def install(monkeypatch, cp) -> None:
    """Put the fake ``cp`` into ``sys.modules`` as ``cupy``, with its ``cupyx`` stand-ins beside it
    (:func:`cupyx_modules`), for the duration of a test (``monkeypatch`` puts back what was there)."""
    import sys

    monkeypatch.setitem(sys.modules, "cupy", cp)
    for name, mod in cupyx_modules(cp).items():
        monkeypatch.setitem(sys.modules, name, mod)



# every CuPy launcher module kernels/*_cuda.py (imported as ``imgrestore.kernels.<name>``)
LAUNCHERS: tuple[str, ...] = tuple(sorted(
    p.stem for p in (Path(__file__).resolve().parents[1] / "kernels").glob("*_cuda.py")))


def forget_launchers(monkeypatch, *, reprobe: bool = False) -> None:
    """Make every launcher (:data:`LAUNCHERS`) import afresh against the cupy now in ``sys.modules``:
    a module left bound to an earlier test's fake would reject this test's arrays.

    ``from imgrestore.kernels import camera_cuda`` looks at the package attribute before
    ``sys.modules``, so both are cleared. Both go through ``monkeypatch`` (a placeholder set first,
    so the undo also drops a launcher that was not there before): after the test the fake-bound
    modules are gone and whatever was there before is back. ``reprobe`` also forgets the cached
    ``imgrestore.backend.gpu_status`` answer, so the probe sees the fake; the caller clears it
    again after the test (the real probe once ``sys.modules`` is back).
    """
    import importlib
    import sys

    pkg = importlib.import_module("imgrestore.kernels")
    for name in LAUNCHERS:
        key = f"{pkg.__name__}.{name}"
        monkeypatch.setitem(sys.modules, key, None)
        monkeypatch.delitem(sys.modules, key)
        monkeypatch.setattr(pkg, name, None, raising=False)
        monkeypatch.delattr(pkg, name)
    if reprobe:
        from imgrestore import backend

        backend.gpu_status.cache_clear()
