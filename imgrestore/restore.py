"""Running a restoration network on images of any size: padding, tiling, self-ensemble.

:class:`Restorer` wraps a loaded network for inference: BN folded into the convs, eval mode,
``torch.inference_mode``, channels-last memory, fp32 on CPU or fp32/bf16/fp16 on a CUDA GPU.
Images are split into tiles whose cores cover the image and whose windows add ``overlap``
pixels of context on every side; only each core is kept. When the overlap is at least the
network's receptive-field radius (17 px for DnCNN-17), every kept pixel saw exactly the
context it sees untiled, so the tiled result equals the untiled one to float rounding and has
no seams. Networks with global statistics (AINDNet's instance norm) are not tile-exact: give
them a tile larger than the image. Memory is bounded by one window's activations.
Before tiling, the image is padded on every side by reflection with ``pad`` pixels (default:
the network's receptive-field radius, :func:`receptive_radius`) and the output cropped back:
a network with zero-padded convs would otherwise see the photo's border as a black frame and
answer with a bright or coloured band along it (docs/borders.md).
With CUDA graphs (default on CUDA) or ``--compile`` all windows of an image get one shape, and
each shape is replayed through one captured graph (docs/inference.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgrestore.errors import DeviceError, UserError

PRECISIONS = ("fp32", "bf16", "fp16")


def torch_dtype(precision: str) -> Any:
    """The torch dtype of a precision name of :data:`PRECISIONS` (KeyError for any other)."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


class RestoreWarning(UserWarning):
    """The input was adapted to the network (e.g. colour converted to gray)."""


def torch_device(device: str) -> str:
    """'cpu' or 'cuda' for torch from the user's cpu|cuda|auto (auto: CUDA when torch sees a GPU)."""
    import torch

    device = (device or "auto").lower()
    has_cuda = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    if device == "cuda" and not has_cuda:
        raise DeviceError("--device cuda: torch sees no CUDA GPU here; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise DeviceError(f"--device {device!r}: expected one of cpu, cuda, auto")
    return device


# torch.compile modes. CUDA: Inductor benchmarks its Triton templates against cuDNN/cuBLAS for
# each conv/GEMM shape (paid once per fixed tile shape) and leaves CUDA graphs to our
# GraphRunner, which owns the tile buffers ("reduce-overhead" would capture a second layer of
# graphs whose outputs the next call overwrites). CPU: the default mode; the convs stay oneDNN
# calls either way, and max-autotune's extra compile time buys nothing there.
# $IMGRESTORE_COMPILE_MODE overrides both (e.g. "default" when a GPU session has little time to autotune).
COMPILE_MODES = {"cuda": "max-autotune-no-cudagraphs", "cpu": "default"}


def compile_mode(device: str) -> str:
    """The torch.compile mode used on `device` (COMPILE_MODES, or $IMGRESTORE_COMPILE_MODE)."""
    import os

    mode = os.environ.get("IMGRESTORE_COMPILE_MODE") or COMPILE_MODES.get(device, "default")
    known = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
    if mode not in known:
        raise UserError(f"$IMGRESTORE_COMPILE_MODE {mode!r}: expected one of {', '.join(known)}")
    return mode


def check_compile(device: str) -> None:
    """``--compile`` of restore/eval/bench net: a bad $IMGRESTORE_COMPILE_MODE or a machine where
    torch cannot compile is a one-line UserError before any work (:mod:`imgrestore.torch_compile`)."""
    from imgrestore.torch_compile import check_compile as probe

    compile_mode(device)
    probe(device)


def check_cuda_graphs(cuda_graphs: bool | None, device: str) -> bool:
    """Whether to use CUDA graphs: None means on exactly when `device` is CUDA; asking for them
    on another device is a one-line UserError naming --cuda-graphs."""
    if cuda_graphs is None:
        return device == "cuda"
    if cuda_graphs and device != "cuda":
        raise UserError(f"--cuda-graphs: CUDA graphs need a CUDA GPU, this run is on {device}; "
                        "drop the option or use --device cuda")
    return bool(cuda_graphs)


def adapt_channels(img: np.ndarray, channels: int, what: str, network: str) -> np.ndarray:
    """`img` (H,W,C) with the network's channel count: colour into a gray network becomes its
    BT.601 luma (0.299 R + 0.587 G + 0.114 B), gray into a colour network is repeated; both
    with a one-line warning."""
    c = img.shape[2]
    if c == channels:
        return img
    if c == 3 and channels == 1:
        warnings.warn(f"{what}: colour image into the gray network {network}: converted to gray "
                      "(BT.601 luma)", RestoreWarning, stacklevel=2)
        y = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.ascontiguousarray(y[:, :, None])
    if c == 1 and channels == 3:
        warnings.warn(f"{what}: gray image into the colour network {network}: channel repeated 3 times",
                      RestoreWarning, stacklevel=2)
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    raise UserError(f"{what}: image with {c} channels; network {network} takes {channels}")


def receptive_radius(model: Any, channels: int, multiple: int = 1) -> int:
    """An upper bound of `model`'s receptive-field radius in input pixels, from one probe
    forward pass on a small input: each conv or pool module adds its kernel radius times the
    input pixels one of its pixels spans (4 after a 4x down-sampling); a network that resamples
    gets one coarse pixel more on each side for the pooling and interpolation around its convs.
    Sums every layer, so parallel branches count twice (safe, larger). 0 if the probe fails.
    A network that knows its radius says so in a ``receptive_radius`` attribute (DM-Net)."""
    import torch
    from torch import nn

    known = getattr(model, "receptive_radius", None)
    if isinstance(known, int):
        return known

    m = max(1, multiple)
    side = max(32, 8 * m)
    seen: list[tuple[int, int]] = []  # (kernel radius, input height at that layer)

    def hook(mod: Any, args: tuple, _out: Any) -> None:
        k, d = mod.kernel_size, getattr(mod, "dilation", 1)
        k = k if isinstance(k, int) else max(k)
        d = d if isinstance(d, int) else max(d)
        seen.append(((d * (k - 1) + 1) // 2, int(args[0].shape[-2])))

    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d)
    handles = [mod.register_forward_hook(hook) for mod in model.modules() if isinstance(mod, kinds)]
    try:
        p = next(iter(model.parameters()), None)
        x = torch.rand(1, channels, side, side, device=p.device if p is not None else "cpu",
                       dtype=p.dtype if p is not None else torch.float32)
        with torch.inference_mode():
            model(x)
    except Exception:  # a network that cannot run the probe: no automatic margin
        return 0
    finally:
        for h in handles:
            h.remove()
    scales = [side / hin for _, hin in seen] or [1.0]
    radius = sum(r * side / hin for r, hin in seen)
    top = max(scales)
    if top > 1:  # pooling to the coarse grid and interpolating back: one coarse pixel each way
        radius += 2 * top
    return int(np.ceil(radius))


@dataclass(frozen=True)
class Tile:
    """One tile: the core it produces and the window it reads (input pixels, [start, stop))."""

    core: tuple[int, int, int, int]  # y0, y1, x0, x1
    window: tuple[int, int, int, int]


def tile_grid(h: int, w: int, tile: int | None, overlap: int, multiple: int = 1, uniform: bool = False) -> list[Tile]:
    """Tiles covering an h x w image (h, w multiples of `multiple`); `tile` None = one tile.

    With `uniform`, every window has the same shape, min(tile + 2 overlap, side) per axis: a
    window that would be cut by the image border is shifted inward instead, so it still ends on
    the border (where the untiled network sees the same zero padding) and reads more context
    on the inner side, which keeps tiles exact. One shape lets one CUDA graph / one compiled
    kernel set serve all tiles of an image."""
    if not tile or (tile >= h and tile >= w):
        return [Tile((0, h, 0, w), (0, h, 0, w))]
    m = max(1, multiple)
    tile = max(m, tile - tile % m)
    overlap = -(-overlap // m) * m
    span = tile + 2 * overlap

    def window(c0: int, c1: int, side: int) -> tuple[int, int]:
        a, b = max(0, c0 - overlap), min(side, c1 + overlap)
        if uniform:
            if side <= span:
                return 0, side
            a = min(a, side - span)  # shift inward from the far border,
            a = max(0, a)
            return a, a + span  # ... or extend inward from the near one
        return a, b

    tiles = []
    for y0 in range(0, h, tile):
        y1 = min(h, y0 + tile)
        wy = window(y0, y1, h)
        for x0 in range(0, w, tile):
            x1 = min(w, x0 + tile)
            tiles.append(Tile((y0, y1, x0, x1), wy + window(x0, x1, w)))
    return tiles


class Restorer:
    """A network made ready for inference, applied to float32 H,W,C images in [0, 1].

    ``compile`` wraps the network in torch.compile (:data:`COMPILE_MODES`, static shapes);
    ``cuda_graphs`` (None: on when the device is CUDA) replays each window shape through a
    captured CUDA graph (:class:`imgrestore.tilegraphs.GraphRunner`). Either makes all windows
    of an image one shape (:func:`tile_grid` ``uniform``), so one graph / one compiled variant
    serves every tile. ``cpu_bf16`` lets bf16 run on a CPU (benchmarks only).

    ``pad`` is the reflection margin added on every side before tiling and cropped off after
    (None: :func:`receptive_radius`, so no kept pixel sees the zero padding of the convs; 0:
    off). It is rounded up to the size multiple so the down-sampling grid keeps its phase.
    ``overlap`` None is the receptive-field radius too: tiles exact, no seams."""

    def __init__(self, model: Any, spec: Any, device: str = "cpu", precision: str = "fp32", tile: int | None = 512,
                 overlap: int | None = 32, ensemble: bool = False, fold: bool = True, channels_last: bool = True,
                 compile: bool = False, cuda_graphs: bool | None = None, cpu_bf16: bool = False,
                 pad: int | None = None) -> None:
        import torch

        from imgrestore.nets.util import fold_bn

        if precision not in PRECISIONS:
            raise UserError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        if precision != "fp32" and device != "cuda" and not (cpu_bf16 and precision == "bf16"):
            raise UserError(f"--precision {precision}: half precision runs on a CUDA GPU only; use fp32 on {device}")
        if tile is not None and tile < 1 or overlap is not None and overlap < 0:
            raise UserError(f"--tile {tile} / --overlap {overlap}: expected tile >= 1 and overlap >= 0")
        if pad is not None and pad < 0:
            raise UserError(f"--pad {pad}: expected a margin >= 0 pixels (0: no reflection padding)")
        self.cuda_graphs = check_cuda_graphs(cuda_graphs, device)
        if compile:
            check_compile(device)
            mode = compile_mode(device)
        self.spec = spec
        self.device = device
        self.dtype = torch_dtype(precision)
        self.tile, self.overlap, self.ensemble = tile, overlap, ensemble
        self.multiple = max(1, int(getattr(spec, "size_multiple", 1) or 1))
        self.scale = max(1, int(getattr(spec, "scale", 1) or 1))
        self.uniform = bool(compile or self.cuda_graphs)
        if device == "cuda":  # tiles have few fixed shapes: let cuDNN time its conv algorithms once per shape
            torch.backends.cudnn.benchmark = True
        model = model.eval()
        if fold:
            model = fold_bn(model)
        radius = None
        if pad is None or overlap is None:
            radius = receptive_radius(model, int(getattr(spec, "in_channels", 3) or 3), self.multiple)
        if pad is None and not getattr(spec, "reflect_margin", True):
            pad = 0  # the network's own zero padding at the border (NetworkSpec.reflect_margin)
        self.pad = -(-(radius if pad is None else pad) // self.multiple) * self.multiple
        self.overlap = radius if overlap is None else overlap
        model = model.to(device=device, dtype=self.dtype)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = torch.compile(model, mode=mode, dynamic=False) if compile else model
        self.graphs = None
        if self.cuda_graphs:
            from imgrestore.tilegraphs import GraphRunner

            self.graphs = GraphRunner(self._run, device, self.dtype)

    # -- one window ------------------------------------------------------------------------------
    def _net(self, x: Any) -> Any:
        out = self.model(x.contiguous(memory_format=self.memory_format))
        return out[0] if isinstance(out, (tuple, list)) else out

    def _run(self, x: Any) -> Any:
        """The network on one NCHW window, averaged over the 8 flips/rotations with `ensemble`."""
        import torch

        if not self.ensemble:
            return self._net(x)
        acc = None
        for k in range(4):
            for flip in (False, True):
                t = torch.rot90(x, k, dims=(2, 3))
                if flip:
                    t = torch.flip(t, dims=(3,))
                y = self._net(t)
                if flip:
                    y = torch.flip(y, dims=(3,))
                y = torch.rot90(y, -k, dims=(2, 3)).float()
                acc = y if acc is None else acc + y
        return acc / 8.0

    def window(self, x: Any) -> Any:
        """The network (with the ensemble) on one NCHW window given on any device/dtype: through
        the window shape's CUDA graph when graphs are on, else directly; a tensor of its own."""
        if self.graphs is not None:
            try:
                return self.graphs(x)
            except RuntimeError as exc:  # a network whose forward cannot be captured (host syncs)
                self.graphs = None
                first = (str(exc).strip().splitlines() or [""])[0][:160]
                warnings.warn(f"--cuda-graphs: capturing {self.spec.name} failed ({first}); running without graphs",
                              RestoreWarning, stacklevel=2)
        return self._run(x.to(device=self.device, dtype=self.dtype))

    # -- whole images ----------------------------------------------------------------------------
    def tiles(self, h: int, w: int) -> list[Tile]:
        """The tiles an h x w input is split into (after the reflection margin and the padding
        to the size multiple)."""
        m, p = self.multiple, self.pad
        return tile_grid(-(-h // m) * m + 2 * p, -(-w // m) * m + 2 * p, self.tile, self.overlap, m, self.uniform)

    def __call__(self, img: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Restore one float32 H,W,C image with the network's channel count (see
        :func:`adapt_channels`); returns float32 (H*scale, W*scale, out_channels), not clipped.
        H,W, uint8/uint16 (scaled to [0, 1]) and torch tensors are accepted; channels-first and
        0-255 floats are refused (:mod:`imgrestore.guards`)."""
        import torch
        from torch.nn import functional as F

        from imgrestore.guards import image

        img = image(img, "Restorer")
        h, w, _ = img.shape
        m, s, p = self.multiple, self.scale, self.pad
        ph, pw = -(-h // m) * m - h, -(-w // m) * m - w
        if p:  # the reflection margin (numpy's reflect repeats for margins wider than the image)
            img = np.pad(img, ((p, p + ph), (p, p + pw), (0, 0)), mode="reflect")
            ph = pw = 0
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
        if ph or pw:  # pad bottom/right to the size multiple; cropped off at the end
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        H, W = x.shape[2], x.shape[3]  # = ceil(h/m)*m + 2p, the size tiles(h, w) splits
        out: np.ndarray | None = None
        with torch.inference_mode():
            for t in self.tiles(h, w):
                wy0, wy1, wx0, wx1 = t.window
                cy0, cy1, cx0, cx1 = t.core
                y = self.window(x[:, :, wy0:wy1, wx0:wx1])
                y = y[0, :, (cy0 - wy0) * s:(cy1 - wy0) * s, (cx0 - wx0) * s:(cx1 - wx0) * s]
                y = y.float().permute(1, 2, 0).cpu().numpy()
                if out is None:
                    out = np.empty((H * s, W * s, y.shape[2]), np.float32)
                out[cy0 * s:cy1 * s, cx0 * s:cx1 * s] = y
                if progress is not None:
                    progress(1)
        assert out is not None
        return out[p * s:(p + h) * s, p * s:(p + w) * s]


def iter_inputs(paths: list[str]) -> Iterator[Any]:
    """Image files named directly or found (recursively, sorted) in named folders."""
    from pathlib import Path

    from imgrestore.io import IMAGE_SUFFIXES, list_images

    for p in map(Path, paths):
        if p.is_dir():
            yield from list_images(p)
        elif p.exists():
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                raise UserError(f"{p}: not an image file (png, tif, jpg, bmp)")
            yield p
        else:
            raise UserError(f"{p}: no such file or folder")
