"""What a pretrained model is, and the built-in ones: the contract of the ``imgrestore_models``
hook (as :mod:`imgrestore.network` is that of ``imgrestore_networks``).

A :class:`ModelEntry` names a network plugin and its config and says where the weights come
from (:class:`Packaged`, :class:`Remote`); :func:`check_entry` is what the registry checks every
plugin contribution with. The built-in entries are here too, not in :mod:`imgrestore.zoo`,
because the registry refuses their names to plugins and sits below the zoo (the zoo looks models
up in the registry). Built-in models: our DM-Net (``moire``, shipped in the package) and the
DnCNN authors' releases (fetched from the authors' repository on first use, SHA-256 pinned).

The DnCNN files are the MatConvNet models of github.com/cszn/DnCNN at commit e93b278 (BN
already folded); their bytes were checked here (SHA-256 below, and each one imported and run
through :mod:`imgrestore.weights.dncnn_import`). See docs/models.md. Public names:
``imgrestore.zoo.ModelEntry``, ``Remote``, ``Packaged`` (re-exported there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# importer formats a Remote source may name (see imgrestore.zoo.load)
FORMATS = ("imgrestore", "dncnn")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Remote:
    """Weights at a public URL, fetched on first use into the cache.

    ``sha256`` and ``size`` (bytes) pin the exact file; ``format`` names the importer
    (``imgrestore``: our safetensors checkpoint; ``dncnn``: the DnCNN authors' MatConvNet .mat or
    KAIR .pth); ``filename`` is the name in the cache (default: the model name + the URL's suffix).
    """

    url: str
    sha256: str
    size: int
    format: str = "imgrestore"
    filename: str = ""


@dataclass(frozen=True)
class Packaged:
    """An imgrestore checkpoint (fp32 or fp16 safetensors) shipped inside a Python package."""

    path: Path


@dataclass(frozen=True, repr=False)
class ModelEntry:
    """One pretrained model as ``imgrestore models`` lists it and ``--model NAME`` loads it.

    ``config`` is the network builder's keyword arguments; ``None`` means "read from the
    checkpoint" (packaged files carry it). ``card`` is markdown; empty means a card is
    generated from the fields.
    """

    name: str
    network: str
    source: Remote | Packaged
    task: str = "other"
    color: Literal["color", "gray"] = "color"
    summary: str = ""
    config: dict[str, Any] | None = None
    card: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ModelEntry({self.name!r}, network={self.network!r})"

    @property
    def origin(self) -> str:
        """Where the weights come from, in a few words."""
        if isinstance(self.source, Packaged):
            return "packaged"
        return self.source.url


def check_entry(item: Any, plugin: bool = True) -> str:
    """The entry's name, or a TypeError saying what is wrong with it (the registry calls this
    for every plugin contribution; a plugin may not take a built-in model's name)."""
    if not isinstance(item, ModelEntry):
        raise TypeError("expected an imgrestore.zoo.ModelEntry")
    if not NAME_RE.match(item.name):
        raise TypeError(f"model name {item.name!r}: use lower-case letters, digits, '.', '_' or '-'")
    src = item.source
    if isinstance(src, Remote):
        if not re.fullmatch(r"[0-9a-f]{64}", src.sha256 or ""):
            raise TypeError(f"model {item.name!r}: Remote.sha256 must be 64 lower-case hex digits")
        if not (isinstance(src.size, int) and src.size > 0):
            raise TypeError(f"model {item.name!r}: Remote.size must be the file's size in bytes")
        if src.format not in FORMATS:
            raise TypeError(f"model {item.name!r}: Remote.format {src.format!r} is not one of {', '.join(FORMATS)}")
        if not src.url.startswith(("https://", "http://")):
            raise TypeError(f"model {item.name!r}: Remote.url must be an http(s) URL")
    elif not isinstance(src, Packaged):
        raise TypeError(f"model {item.name!r}: source must be an imgrestore.zoo.Remote or Packaged")
    if plugin and item.name in BUILTIN_NAMES:
        raise TypeError(f"model name {item.name!r} is a built-in model")
    return item.name


# -- the built-in models --------------------------------------------------------------------

ZOO_DIR = Path(__file__).resolve().parent / "zoo"  # the shipped weights and cards: package data of imgrestore.zoo
PACKAGED_DIR = ZOO_DIR / "packaged"
CARDS_DIR = ZOO_DIR / "cards"

DNCNN_REPO = "cszn/DnCNN"
DNCNN_COMMIT = "e93b27812d3ff523a3a79d19e5e50d233d7a8d0a"
DNCNN_PAPER = ("K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, \"Beyond a Gaussian Denoiser: Residual "
               "Learning of Deep CNN for Image Denoising\", IEEE TIP 26(7), 2017")


def _dncnn(name: str, network: str, path: str, sha256: str, size: int, summary: str, **extra: object) -> ModelEntry:
    url = f"https://github.com/{DNCNN_REPO}/raw/{DNCNN_COMMIT}/{path}"
    depth, channels = (17, 1) if network == "dncnn-s" else (20, 3 if network == "cdncnn-b" else 1)
    return ModelEntry(
        name=name, network=network, task="denoise", color="color" if channels == 3 else "gray", summary=summary,
        config={"depth": depth, "channels": channels, "features": 64, "bn": False},
        source=Remote(url, sha256, size, format="dncnn", filename=f"{name}.mat"),
        extra={"paper": DNCNN_PAPER, "repo": DNCNN_REPO, "commit": DNCNN_COMMIT, "path": path,
               "license": "as released by the authors (see github.com/cszn/DnCNN)", **extra})


DNCNN = [
    _dncnn("dncnn-s-15", "dncnn-s", "model/specifics/sigma=15.mat",
           "657d5115fa05d371dbf0df1f0a931eff274dae29d08a9cc0824a28caf2460e21", 2292856,
           "DnCNN-S, gray, Gaussian noise sigma 15 (authors' MatConvNet release)",
           trained="gray Gaussian noise of sigma 15 (of 255), 400 BSD images 180x180, 17 layers",
           noise="awgn:sigma=15", scores={"Set12 sigma 15": "32.84 dB / SSIM 0.9022 (paper 32.86 dB)"}),
    _dncnn("dncnn-s-25", "dncnn-s", "model/specifics/sigma=25.mat",
           "5a5404c9e3ef14e353760e14b885439408a654618e14f13b2e97b99b9835020b", 2295807,
           "DnCNN-S, gray, Gaussian noise sigma 25 (authors' MatConvNet release)",
           trained="gray Gaussian noise of sigma 25 (of 255), 400 BSD images 180x180, 17 layers",
           noise="awgn:sigma=25", scores={"Set12 sigma 25": "30.42 dB / SSIM 0.8613 (paper 30.44 dB)"}),
    _dncnn("dncnn-s-50", "dncnn-s", "model/specifics/sigma=50.mat",
           "517dc0b55a8da2c129704ed7921b8557aac40cf3aae9f700dc41a9e25cad0983", 2299259,
           "DnCNN-S, gray, Gaussian noise sigma 50 (authors' MatConvNet release)",
           trained="gray Gaussian noise of sigma 50 (of 255), 400 BSD images 180x180, 17 layers",
           noise="awgn:sigma=50", scores={"Set12 sigma 50": "27.18 dB / SSIM 0.7824 (paper 27.18 dB)"}),
    _dncnn("dncnn-b", "dncnn-b", "model/GD_Gray_Blind.mat",
           "37f76da0b71dd2b2789ce91848fe2f184ab486203c9af9ac1b98199b60ea02b0", 2766582,
           "DnCNN-B, gray, blind Gaussian denoising, sigma 0-55 (authors' release)",
           trained="gray Gaussian noise of sigma drawn in [0, 55], 20 layers", noise="awgn:sigma=0-55",
           scores={"Set12 sigma 15": "32.67 dB / SSIM 0.8995 (paper 32.68 dB)",
                   "Set12 sigma 25": "30.35 dB / SSIM 0.8595 (paper 30.36 dB)",
                   "Set12 sigma 50": "27.20 dB / SSIM 0.7822 (paper 27.21 dB)"}),
    _dncnn("cdncnn-b", "cdncnn-b", "model/GD_Color_Blind.mat",
           "57db5437a44037e7675a99042fe7b14d3dcdf1c333d3ec665855566e8a59795c", 2763713,
           "CDnCNN-B, colour, blind Gaussian denoising, sigma 0-55 (authors' release)",
           trained="colour (RGB) Gaussian noise of sigma drawn in [0, 55], 20 layers", noise="awgn:sigma=0-55",
           scores={"Kodak24 sigma 25": "32.01 dB / SSIM 0.8763"}),
    _dncnn("dncnn-3", "dncnn-3", "model/DnCNN3.mat",
           "3962377d522b6728417e364bf7a589cf34ddfb592af0bd9769e53f8123d17677", 2771543,
           "DnCNN-3, gray (Y): one model for denoising, x2-4 super-resolution and JPEG deblocking",
           trained="gray (Y) images with Gaussian noise (sigma 0-55), bicubic x2/x3/x4 down-up, or JPEG "
                   "quality 5-99, 20 layers",
           noise="awgn:sigma=0-55 | bicubic down-up x2-4 | jpeg:quality=5-99",
           scores={"Set12 sigma 25": "30.17 dB / SSIM 0.8544"}),
]

MOIRE = ModelEntry(
    name="moire", network="dmnet", task="demoire", color="color",
    summary="DM-Net demoiréing of photos of screens (imgrestore's own, trained by examples/experiments/release-moire.toml)",
    source=Packaged(PACKAGED_DIR / "moire.safetensors"),
    extra={"recipe": "examples/experiments/release-moire.toml"})

BUILTIN: list[ModelEntry] = [MOIRE, *DNCNN]
BUILTIN_NAMES = frozenset(m.name for m in BUILTIN)
