"""Read legacy (pre-1.6, non-zip) ``torch.save`` files without executing code from them.

Ours because the 2018 files pickle whole modules (``__main__.DnCNN``): torch.load(weights_only=True)
refuses them, and a plain torch.load would import and run whatever globals the file names.

A legacy file is five pickles in a row: a magic number, a protocol version, system info, the
object itself, and the list of storage keys, followed by the raw bytes of each storage. The
object pickle may name any Python global; :class:`RestrictedUnpickler` resolves only the names
in :data:`ALLOWED` and answers everything else with :class:`DisallowedGlobal` (one line naming
it), before anything is called. The allowed names resolve to our own stand-ins, never to the
classes they name: torch rebuild helpers become functions that record (storage, offset, size,
stride); storages become dtype markers; ``__main__.DnCNN`` and torch.nn modules become a
:class:`ModuleStandIn` that only keeps the attribute dict the pickle sets on it.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class DisallowedGlobal(pickle.UnpicklingError):
    """The pickle asked for a global that is not on the allow-list."""


class ModuleStandIn:
    """Takes the place of a pickled ``nn.Module``: keeps its ``__dict__`` and nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = dict(state) if isinstance(state, dict) else {}

    def __reduce__(self):  # never re-pickled
        raise TypeError("ModuleStandIn cannot be pickled")


@dataclass
class StorageStandIn:
    """A storage named in the pickle; its bytes are read after the object pickle."""

    dtype: np.dtype
    key: str
    numel: int
    data: np.ndarray | None = None


@dataclass
class TensorStandIn:
    """A tensor as the pickle describes it: a strided view of a storage."""

    storage: StorageStandIn
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def numpy(self) -> np.ndarray:
        """The tensor's values (a copy), read through its size and stride."""
        data = self.storage.data
        if data is None:
            raise pickle.UnpicklingError(f"storage {self.storage.key} has no data")
        if not self.size:
            return data[self.offset : self.offset + 1].reshape(()).copy()
        need = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if any(n == 0 for n in self.size):
            return np.zeros(self.size, data.dtype)
        if int(np.prod(self.size, dtype=object)) > data.size:  # overlapping (e.g. stride-0) views: no blow-up
            raise pickle.UnpicklingError(f"tensor view {self.size}/{self.stride} claims more elements than its "
                                         f"storage of {data.size} holds")
        if len(self.stride) != len(self.size):
            raise pickle.UnpicklingError(f"tensor view {self.size}/{self.stride}: sizes and strides differ in length")
        if self.offset < 0 or any(s < 0 for s in self.stride) or need > data.size:
            raise pickle.UnpicklingError(f"tensor view {self.size}/{self.stride}+{self.offset} lies outside its "
                                         f"storage of {data.size} elements")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=tuple(s * item for s in self.stride), writeable=False)
        return np.array(view)


class _DtypeMarker:
    def __init__(self, name: str, dtype: str) -> None:
        self.name, self.dtype = name, np.dtype(dtype)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None) -> TensorStandIn:
    if not isinstance(storage, StorageStandIn):
        raise pickle.UnpicklingError("tensor rebuild without a storage")
    return TensorStandIn(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_tensor(storage, storage_offset, size, stride) -> TensorStandIn:
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None, *args) -> TensorStandIn:
    if not isinstance(data, TensorStandIn):
        raise pickle.UnpicklingError("parameter rebuild without a tensor")
    return data


def _parameter(data=None, requires_grad=True) -> TensorStandIn:
    return _rebuild_parameter(data, requires_grad)


def _thnn_backend(*args: Any) -> None:
    return None


_STORAGES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}

_MODULE_CLASSES = {
    "torch.nn.modules.container": ("Sequential", "ModuleList"),
    "torch.nn.modules.conv": ("Conv2d", "ConvTranspose2d"),
    "torch.nn.modules.batchnorm": ("BatchNorm2d",),
    "torch.nn.modules.activation": ("ReLU", "PReLU", "LeakyReLU"),
    "__main__": ("DnCNN",),
}

ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.nn.parameter", "Parameter"): _parameter,
    ("torch.nn.backends.thnn", "_get_thnn_function_backend"): _thnn_backend,
    **{("torch", name): _DtypeMarker(name, dt) for name, dt in _STORAGES.items()},
    **{(mod, name): type(name, (ModuleStandIn,), {"__module__": "imgrestore.weights.safe_pickle.standin"})
       for mod, names in _MODULE_CLASSES.items() for name in names},
}
"""(module, name) -> what the unpickler hands back. Everything else is refused."""


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only :data:`ALLOWED` globals, to harmless stand-ins."""

    def __init__(self, file: BinaryIO, storages: dict[str, StorageStandIn] | None = None) -> None:
        super().__init__(file, encoding="latin1")
        self.storages = storages if storages is not None else {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise DisallowedGlobal(f"the pickle asks for {module}.{name}, which is not on the allow-list "
                                   "(torch tensors, storages, OrderedDict and DnCNN/torch.nn module state); "
                                   "refusing to load it") from None

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module" and len(pid) >= 2:  # (class, file, source): the source text is never run
            if not (isinstance(pid[1], type) and issubclass(pid[1], ModuleStandIn)):
                raise pickle.UnpicklingError("module record without an allowed module class")
            return pid[1]
        if kind != "storage" or len(pid) < 5:
            raise pickle.UnpicklingError(f"unsupported persistent id of kind {kind!r}")
        marker, key, numel = pid[1], str(pid[2]), int(pid[4])  # pid[3] (device) is ignored
        if not isinstance(marker, _DtypeMarker):
            raise pickle.UnpicklingError(f"storage {key} has no known storage type")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = StorageStandIn(marker.dtype, key, numel)
        return self.storages[key]


def _safe_load(f: BinaryIO, storages: dict[str, StorageStandIn] | None = None) -> Any:
    try:
        return RestrictedUnpickler(f, storages).load()
    except (MemoryError, OverflowError):  # a damaged length field (BINBYTES8, FRAME) asks for exabytes
        raise pickle.UnpicklingError("a length field claims more data than the file holds") from None


def load_legacy(data: bytes) -> Any:
    """The object stored in a legacy ``torch.save`` file, with TensorStandIns filled with data.

    Raises :class:`DisallowedGlobal` for a name outside the allow-list and
    ``pickle.UnpicklingError`` / ``ValueError`` for anything malformed.
    """
    f = io.BytesIO(data)
    magic = _safe_load(f)
    if magic != LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a torch.save file (wrong magic number)")
    version = _safe_load(f)
    if version != LEGACY_PROTOCOL:
        raise pickle.UnpicklingError(f"unsupported torch.save protocol {version!r}")
    sys_info = _safe_load(f)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise pickle.UnpicklingError("big-endian torch.save files are not supported")
    storages: dict[str, StorageStandIn] = {}
    obj = _safe_load(f, storages)
    keys = _safe_load(f)
    if not isinstance(keys, list):
        raise pickle.UnpicklingError("malformed storage key list")
    for key in keys:
        st = storages.get(str(key))
        if st is None:
            raise pickle.UnpicklingError(f"storage {key} listed but never used")
        head = f.read(8)
        if len(head) != 8:
            raise pickle.UnpicklingError("file ends inside the storage data (truncated)")
        (numel,) = struct.unpack("<q", head)
        nbytes = numel * st.dtype.itemsize
        if numel < 0 or nbytes > len(data) - f.tell():  # checked before reading: no giant request
            raise pickle.UnpicklingError("file ends inside the storage data (truncated)")
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise pickle.UnpicklingError("file ends inside the storage data (truncated)")
        st.data = np.frombuffer(raw, dtype=st.dtype)
    return obj


MAX_MODULE_DEPTH = 64
"""Modules nested deeper than this are refused (DnCNN nests two levels; a crafted file 50,000)."""


def _children(st: dict[str, Any]) -> list[tuple[str, Any]]:
    mods = st.get("_modules") or {}
    return [(str(k), c) for k, c in mods.items()] if isinstance(mods, dict) else []


def _walk(obj: Any) -> list[tuple[str, Any]]:
    """(dotted path, stand-in module) of the tree under `obj`, depth first in pickle order, walked
    without recursion and refusing nesting deeper than :data:`MAX_MODULE_DEPTH`."""
    out: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any, int]] = [("", obj, 0)]
    while stack:
        path, m, depth = stack.pop()
        if depth > MAX_MODULE_DEPTH:
            raise pickle.UnpicklingError(f"modules nested more than {MAX_MODULE_DEPTH} levels deep")
        if not isinstance(m, ModuleStandIn):
            continue
        out.append((path, m))
        kids = [(f"{path}.{k}" if path else k, c, depth + 1) for k, c in _children(m.state) if c is not None]
        stack.extend(reversed(kids))
    return out


def module_state_dict(obj: Any, prefix: str = "") -> OrderedDict[str, TensorStandIn]:
    """The flat ``state_dict`` (parameters, then buffers, then children) of a stand-in module
    tree, or the dict itself when `obj` already is a state dict."""
    out: OrderedDict[str, Any] = OrderedDict()
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, TensorStandIn):
                out[prefix + str(k)] = v
        return out
    if not isinstance(obj, ModuleStandIn):
        raise pickle.UnpicklingError(f"expected a module or a state dict, found {type(obj).__name__}")
    for path, m in _walk(obj):
        pre = prefix + (path + "." if path else "")
        for group in ("_parameters", "_buffers"):
            tensors = m.state.get(group) or {}
            for k, v in (tensors.items() if isinstance(tensors, dict) else ()):
                if isinstance(v, TensorStandIn):
                    out[pre + str(k)] = v
    return out


def module_attrs(obj: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, class name, plain attributes) of every stand-in module, in order (depth first)."""
    return [(path, type(m).__name__, {k: v for k, v in m.state.items() if isinstance(v, (int, float, bool, str, tuple))})
            for path, m in _walk(obj)]
