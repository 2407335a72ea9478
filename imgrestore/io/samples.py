"""Photos shipped inside scikit-image's package, the clean images used when no --input is given.

Only files already on disk are used (never a download), so a run without --input works offline.
"""

from __future__ import annotations

import os

import numpy as np

from imgrestore.io.convert import from_uint

# skimage.data loader name -> its file in skimage's own data folder. Natural photos and textures
# of at least 256 px per side; binary, tiny, synthetic or mostly-black images are left out.
_SAMPLES = {
    "astronaut": "astronaut.png",
    "camera": "camera.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "moon": "moon.png",
    "coins": "coins.png",
}


def sample_images() -> list[tuple[str, np.ndarray]]:
    """The sample images shipped inside scikit-image's package (never downloaded).

    Returns ``("skimage:NAME", float32 H,W,C in [0, 1])`` pairs (gray as H,W,1), only for images
    whose file is present in ``skimage/data`` and that are at least 256 px on each side.
    """
    import skimage.data

    folder = os.path.dirname(skimage.data.__file__)
    out = []
    for name, fname in _SAMPLES.items():
        if not os.path.isfile(os.path.join(folder, fname)):
            continue
        arr = np.asarray(getattr(skimage.data, name)())
        img = from_uint(arr[:, :, None] if arr.ndim == 2 else arr[:, :, :3])
        if min(img.shape[:2]) >= 256:
            out.append((f"skimage:{name}", np.ascontiguousarray(img)))
    return out
