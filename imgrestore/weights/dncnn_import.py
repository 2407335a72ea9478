"""Import the DnCNN authors' released weights into our checkpoint format.

Three formats are read, none by executing code from the file:

* MatConvNet SimpleNN ``.mat`` saved as MATLAB v7.3 (HDF5), read with h5py: ``net.layers``
  cells of type ``conv`` (weights in MATLAB order [kh, kw, in, out]), ``relu``, ``bnorm``
  (gamma, beta, moments = [mean, sigma]) and ``loss``. Models with ``bnorm`` layers are folded.
* KAIR-style state dicts (zip ``torch.save`` files), with ``torch.load(weights_only=True)``.
* The 2018 pickled whole module (legacy ``torch.save`` of ``__main__.DnCNN``, BN not folded),
  through :mod:`imgrestore.weights.safe_pickle`'s allow-list.

Every model is brought to the folded form, a chain of 3x3 convs with biases and ReLUs between
them, and saved as the matching DnCNN plugin with ``bn=False``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from imgrestore.errors import UserError

# plugin name -> (depth, channels) of the standard variants
VARIANTS = {"dncnn-s": (17, 1), "dncnn-b": (20, 1), "dncnn-3": (20, 1), "cdncnn-b": (20, 3)}
FAMILY = "dncnn"
DEFAULT_BN_EPS = 1e-4  # DnCNN's PyTorch and MatConvNet code; used when a file does not say


class _Layer(dict):
    """One layer read from a file: kind 'conv' (w, b) or 'bn' (gamma, beta, mean, std)."""


# ------------------------------------------------------------------------------------------
# format readers


def _sniff(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(520)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:10] == b"MATLAB 5.0":
        return "mat5"
    if head.startswith(b"MATLAB 7.3") or head[:8] == b"\x89HDF\r\n\x1a\n" or head[512:520] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def _mat_str(f: Any, ds: Any) -> str:
    arr = np.asarray(ds[()]).ravel()
    return "".join(chr(int(c)) for c in arr)


def _mat_array(arr: np.ndarray, ndim: int) -> np.ndarray:
    """An HDF5-stored MATLAB array in MATLAB's axis order, padded to `ndim` axes (MATLAB drops
    trailing singleton dimensions, e.g. a [3,3,64,1] filter bank is stored as [3,3,64])."""
    m = np.asarray(arr).T
    return m.reshape(m.shape + (1,) * (ndim - m.ndim)) if m.ndim < ndim else m


def _read_mat(path: Path) -> list[_Layer]:
    import h5py

    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise UserError(f"{path}: not a readable MATLAB v7.3 (HDF5) file ({' '.join(str(exc).split())[:150]})") from None
    layers: list[_Layer] = []
    with f:
        if "net" not in f or "layers" not in f["net"]:
            raise UserError(f"{path}: no net.layers in this .mat file (expected a MatConvNet SimpleNN model)")
        refs = np.asarray(f["net"]["layers"][()]).ravel()
        for i, ref in enumerate(refs):
            g = f[ref]
            kind = _mat_str(f, g["type"]) if "type" in g else "?"
            where = f"{path}: net.layers{{{i + 1}}}"
            if kind == "conv":
                w_refs = np.asarray(g["weights"][()]).ravel()
                w = _mat_array(f[w_refs[0]][()], 4).astype(np.float32)  # [kh, kw, in, out]
                b = _mat_array(f[w_refs[1]][()], 1).astype(np.float32).ravel() if len(w_refs) > 1 else None
                pad = np.asarray(g["pad"][()]).ravel() if "pad" in g else np.array([0])
                stride = np.asarray(g["stride"][()]).ravel() if "stride" in g else np.array([1])
                if np.any(stride != 1) or np.any(pad != (w.shape[0] - 1) // 2):
                    raise UserError(f"{where}: conv with stride {stride.tolist()} / pad {pad.tolist()}; "
                                    "DnCNN needs stride 1 and 'same' padding")
                layers.append(_Layer(kind="conv", w=np.ascontiguousarray(w.transpose(3, 2, 0, 1)), b=b, name=where))
            elif kind == "bnorm":
                w_refs = np.asarray(g["weights"][()]).ravel()
                gamma = _mat_array(f[w_refs[0]][()], 1).ravel()
                beta = _mat_array(f[w_refs[1]][()], 1).ravel()
                moments = _mat_array(f[w_refs[2]][()], 2)  # [C, 2]: mean, sigma = sqrt(var + eps)
                layers.append(_Layer(kind="bn", gamma=gamma, beta=beta, mean=moments[:, 0], std=moments[:, 1], name=where))
            elif kind in ("relu", "loss", "pdist", "euclideanloss"):
                continue
            else:
                raise UserError(f"{where}: layer type {kind!r} is not part of DnCNN (conv, relu, bnorm, loss)")
    return layers


def _layers_from_state(sd: dict[str, np.ndarray], where: str, eps: dict[str, float] | None = None) -> list[_Layer]:
    """Conv and BN layers from a flat state dict, in module order (numeric parts compared as numbers)."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, val in sd.items():
        mod, _, leaf = key.rpartition(".")
        groups.setdefault(mod, {})[leaf] = val

    def order(mod: str) -> tuple:
        return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in mod.split("."))

    layers: list[_Layer] = []
    for mod in sorted(groups, key=order):
        g = groups[mod]
        w = g.get("weight")
        if w is not None and w.ndim == 4:
            b = g.get("bias")
            layers.append(_Layer(kind="conv", w=w.astype(np.float32), b=None if b is None else b.astype(np.float32),
                                 name=f"{where}: {mod}"))
        elif "running_mean" in g and "running_var" in g:
            e = (eps or {}).get(mod, DEFAULT_BN_EPS)
            n = g["running_mean"].shape[0]
            gamma = g.get("weight", np.ones(n, np.float32))
            beta = g.get("bias", np.zeros(n, np.float32))
            layers.append(_Layer(kind="bn", gamma=gamma, beta=beta, mean=g["running_mean"],
                                 std=np.sqrt(g["running_var"].astype(np.float64) + e), name=f"{where}: {mod}"))
        elif any(k in g for k in ("weight", "bias")):
            shape = tuple(next(iter(g.values())).shape)
            raise UserError(f"{where}: tensor {mod}.* of shape {shape} is neither a conv nor a BatchNorm; "
                            "not a DnCNN state dict")
    return layers


def _read_zip(path: Path) -> list[_Layer]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(f"{path}: {_refusal(path, str(exc))}") from None
    except RecursionError:
        raise UserError(f"{path}: refused: the pickle nests too deeply to be a state dict") from None
    except Exception as exc:
        raise UserError(f"{path}: corrupt or unreadable torch file ({' '.join(str(exc).split())[:200]})") from None
    for key in ("state_dict", "model", "params", "net"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a state dict, found {type(obj).__name__}")
    sd = {str(k): _numpy(str(k), v, path) for k, v in obj.items() if isinstance(v, torch.Tensor)}
    return _layers_from_state(sd, str(path))


def _numpy(name: str, t: Any, path: Path) -> np.ndarray:
    """A loaded tensor as numpy, refusing views larger than the bytes behind them: a stride-0
    tensor can claim gigabytes over a one-element storage, and copying it would exhaust memory."""
    held = t.untyped_storage().nbytes() // max(1, t.element_size())
    _check_view(path, name, t.numel(), tuple(t.shape), tuple(t.stride()), held)
    return t.detach().cpu().numpy()


def _check_view(path: Path, name: str, numel: int, shape: tuple, stride: tuple, held: int) -> None:
    """Refuse a tensor view claiming more elements than the storage behind it holds."""
    if numel > held:
        raise UserError(f"{path}: tensor {name} claims {numel:,} elements ({shape}, strides {stride}) over a "
                        f"storage of {held:,}; refusing to expand such a view")


def _standin_numpy(name: str, t: Any, path: Path) -> np.ndarray:
    """A legacy file's tensor as numpy, refusing (like :func:`_numpy`) views larger than their storage."""
    if t.storage.data is not None:
        numel = int(np.prod(t.size, dtype=object)) if t.size else 1
        _check_view(path, name, numel, tuple(t.size), tuple(t.stride), t.storage.data.size)
    return t.numpy()


def _refusal(path: Path, message: str) -> str:
    """Why torch's weights-only loader refused a zip file, as our one line: the global the pickle
    asks for (as the legacy reader says it), never torch's advice to turn the safety off."""
    import re

    m = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", message)
    name = m.group(1) if m else _first_foreign_global(path)
    if name:
        return (f"refused: the pickle asks for {name}, which is not on the allow-list (torch tensors, storages "
                "and plain containers); nothing in it was run")
    lines = [ln.strip() for ln in message.splitlines() if ln.strip() and "weights_only" not in ln
             and "trusted source" not in ln and "documentation" not in ln.lower()]
    reason = (" (" + " ".join(lines[0].split())[:150] + ")") if lines else ""
    return f"refused: the file holds more than tensors{reason}; nothing in it was run"


def _first_foreign_global(path: Path) -> str | None:
    """The first global outside torch and collections that the zip's pickle names (read with
    pickletools: nothing is resolved or run)."""
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
            data = z.read(name) if name else b""
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                g = str(arg).replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                g = f"{strings[-2]}.{strings[-1]}"
            else:
                if isinstance(arg, str):
                    strings.append(arg)
                continue
            if not g.startswith(("torch.", "collections.OrderedDict")):
                return g
    except Exception:
        return None
    return None


def _read_pickle(path: Path) -> tuple[list[_Layer], str]:
    """A legacy (non-zip) torch file, through our allow-list unpickler only (it never imports the
    classes the file names, and checks every storage's declared size against the file before
    allocating it: torch's own legacy loader allocates what a damaged size field says first).
    A plain state dict becomes the layers directly; a pickled whole module gives its tensors."""
    from imgrestore.weights import safe_pickle as sp

    try:
        obj = sp.load_legacy(path.read_bytes())
        plain = isinstance(obj, dict) and obj and all(isinstance(v, sp.TensorStandIn) for v in obj.values())
        sd = {k: _standin_numpy(k, t, path) for k, t in sp.module_state_dict(obj).items()}
        if plain:
            return _layers_from_state(sd, str(path)), "torch state dict (legacy format, allow-list unpickler)"
    except sp.DisallowedGlobal as exc:
        raise UserError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RecursionError, struct_error()) as exc:
        raise UserError(f"{path}: corrupt or unsupported pickled torch file "
                        f"({type(exc).__name__}: {' '.join(str(exc).split())[:150]})") from None
    eps = {path_: float(attrs["eps"]) for path_, cls, attrs in sp.module_attrs(obj)
           if cls == "BatchNorm2d" and "eps" in attrs}
    return _layers_from_state(sd, str(path), eps), "pickled torch module (allow-list unpickler)"


def struct_error() -> type:
    import struct

    return struct.error


# ------------------------------------------------------------------------------------------
# folding and checking


def fold(layers: list[_Layer], where: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fold every BN into the conv before it: ``W' = W * g/s``, ``b' = (b - mean) * g/s + beta``."""
    convs: list[list[np.ndarray]] = []
    for layer in layers:
        if layer["kind"] == "conv":
            w = layer["w"].astype(np.float64)
            b = layer["b"] if layer["b"] is not None else np.zeros(w.shape[0])
            convs.append([w, np.asarray(b, np.float64)])
        else:
            if not convs:
                raise UserError(f"{layer['name']}: batch norm before any conv")
            w, b = convs[-1]
            sizes = {k: np.shape(layer[k]) for k in ("gamma", "std", "mean", "beta")} | {"conv bias": b.shape}
            if w.ndim != 4 or any(s != (w.shape[0],) for s in sizes.values()):  # a damaged file (tests/test_fuzz.py)
                raise UserError(f"{layer['name']}: batch norm vectors of shapes {sizes} do not fit a conv "
                                f"of weight shape {w.shape}")
            scale = np.asarray(layer["gamma"], np.float64) / np.asarray(layer["std"], np.float64)
            if scale.shape[0] != w.shape[0]:
                raise UserError(f"{layer['name']}: batch norm of {scale.shape[0]} channels after a conv with "
                                f"{w.shape[0]} outputs")
            convs[-1] = [w * scale[:, None, None, None],
                         (b - np.asarray(layer["mean"], np.float64)) * scale + np.asarray(layer["beta"], np.float64)]
    if not convs:
        raise UserError(f"{where}: no conv layers found")
    return [(w.astype(np.float32), b.astype(np.float32)) for w, b in convs]


def check_chain(convs: list[tuple[np.ndarray, np.ndarray]], where: str) -> tuple[int, int, int]:
    """(depth, channels, features) of a DnCNN conv chain, or a UserError naming the bad layer."""
    depth = len(convs)
    for k, (w, b) in enumerate(convs):
        for label, arr in (("weight", w), ("bias", b)):
            if not np.isfinite(arr).all():
                raise UserError(f"{where}: conv layer {k + 1} of {depth} ({label}) holds "
                                f"{int((~np.isfinite(arr)).sum()):,} non-finite value(s) (NaN or infinity); refusing "
                                "broken weights")
    channels = convs[0][0].shape[1]
    features = convs[0][0].shape[0]
    for k, (w, b) in enumerate(convs):
        cin = channels if k == 0 else features
        cout = channels if k == depth - 1 else features
        if w.shape != (cout, cin, 3, 3) or b.shape != (cout,):
            raise UserError(f"{where}: conv layer {k + 1} of {depth} has weight {tuple(w.shape)} / bias {tuple(b.shape)}; "
                            f"DnCNN expects ({cout}, {cin}, 3, 3) / ({cout},)")
    if depth < 3:
        raise UserError(f"{where}: only {depth} conv layers; DnCNN has at least 3")
    return depth, channels, features


def choose_network(name: str, depth: int, channels: int, where: str) -> str:
    """The plugin to save as: `name` if it is a variant that fits, or the variant for the shape."""
    if name in VARIANTS:
        d, c = VARIANTS[name]
        if (d, c) != (depth, channels):
            raise UserError(f"{where}: holds a {depth}-layer DnCNN on {channels} channel(s), but {name} has "
                            f"{d} layers on {c}; use 'dncnn' to pick the variant from the file")
        return name
    if name != FAMILY:
        raise UserError(f"import-weights {name!r}: expected dncnn or one of {', '.join(VARIANTS)}")
    if channels not in (1, 3):
        raise UserError(f"{where}: holds a DnCNN on {channels} channels; the DnCNN networks take 1 (gray) or "
                        "3 (colour) channels, so restore could not run it")
    if channels == 3:
        return "cdncnn-b"
    return "dncnn-b" if depth == 20 else "dncnn-s"


def read_dncnn(path: Path | str) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """The folded conv chain stored in `path` and the name of its format."""
    path = Path(path)
    kind = _sniff(path)
    if kind == "zip":
        layers, fmt = _read_zip(path), "torch state dict (weights_only)"
    elif kind == "hdf5":
        layers, fmt = _read_mat(path), "MatConvNet .mat (v7.3)"
    elif kind == "pickle":
        layers, fmt = _read_pickle(path)
    elif kind == "mat5":
        raise UserError(f"{path}: a MATLAB v5 .mat file; only v7.3 (HDF5) is read: in MATLAB, "
                        "load it and save(..., '-v7.3')")
    else:
        raise UserError(f"{path}: unknown weights format (expected a MatConvNet v7.3 .mat, a torch state "
                        "dict .pth or a legacy pickled DnCNN .pth)")
    n_bn = sum(1 for layer in layers if layer["kind"] == "bn")
    return fold(layers, str(path)), fmt + (f", {n_bn} BN layers folded" if n_bn else "")


def dncnn_state(convs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """The state dict of ``DnCNN(bn=False)`` holding `convs` (conv k is module ``layers.{2k}``)."""
    import torch

    out = {}
    for k, (w, b) in enumerate(convs):
        out[f"layers.{2 * k}.weight"] = torch.from_numpy(np.ascontiguousarray(w))
        out[f"layers.{2 * k}.bias"] = torch.from_numpy(np.ascontiguousarray(b))
    return out


def import_dncnn(src: Path | str, out: Path | str, network: str = FAMILY) -> dict[str, Any]:
    """Read DnCNN weights from `src` and save them to `out` as our checkpoint.

    Returns a summary: network, config, format, parameter count.
    """
    from imgrestore.weights.checkpoint import load_state, save_checkpoint

    src = Path(src)
    convs, fmt = read_dncnn(src)
    depth, channels, features = check_chain(convs, str(src))
    name = choose_network(network, depth, channels, str(src))
    config = {"depth": depth, "channels": channels, "features": features, "bn": False}
    from imgrestore.nets.dncnn import DnCNN

    model = DnCNN(**config)
    state = dncnn_state(convs)
    load_state(model, state, str(src))  # proves the tensors fit before anything is written
    save_checkpoint(out, name, config, model.state_dict(), source=src.name, source_format=fmt)
    return {"network": name, "config": config, "format": fmt, "params": sum(p.numel() for p in model.parameters())}
