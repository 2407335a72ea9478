"""The built-in models: our DM-Net (``moire``, shipped in the package) and the DnCNN authors'
releases (fetched from the authors' repository on first use, SHA-256 pinned).

The DnCNN files are the MatConvNet models of github.com/cszn/DnCNN at commit e93b278 (BN
already folded); their bytes were checked here (SHA-256 below, and each one imported and run
through :mod:`imgrestore.weights.dncnn_import`). See docs/models.md.
"""

from __future__ import annotations

from pathlib import Path

from imgrestore.zoo.entry import ModelEntry, Packaged, Remote

HERE = Path(__file__).resolve().parent
PACKAGED_DIR = HERE / "packaged"
CARDS_DIR = HERE / "cards"

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
