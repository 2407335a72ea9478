"""Image files in and out: float32 HWC arrays in [0, 1] on one side, PNG/TIFF/JPEG/BMP on the other.

One module per job, all re-exported here (``from imgrestore.io import read_image`` is the way
to use them):

* :mod:`~imgrestore.io.folders`: :func:`list_images`, the image files of a folder in a fixed order.
* :mod:`~imgrestore.io.convert`: :func:`from_uint` / :func:`to_uint`, stored integers <-> [0, 1].
* :mod:`~imgrestore.io.read`: :func:`read_image`, :func:`image_shape`. Pillow (through imageio's
  v3 API) reads PNG, JPEG, BMP and the rest, tifffile reads TIFF (first page, always H, W, C).
  Pillow truncates 16-bit colour or gray+alpha PNGs to 8 bits and cannot write them: those go
  through :mod:`~imgrestore.io.png16`, libpng via imagecodecs, so 16-bit output round-trips
  exactly.
* :mod:`~imgrestore.io.write`: :func:`write_image` and :func:`write_bytes_atomic` (temporary
  file, fsync, rename: never a partial file).
* :mod:`~imgrestore.io.locations`: :func:`check_out_folder` / :func:`check_out_file`, run before
  any long work.
* :mod:`~imgrestore.io.samples`: :func:`sample_images`, the photos shipped with scikit-image.

Every decode failure becomes one :class:`~imgrestore.errors.ImageReadError` line naming the file,
so the CLI can report it (or skip the file) without a traceback.
"""

from __future__ import annotations

from imgrestore.io.convert import from_uint, to_uint
from imgrestore.io.folders import IMAGE_SUFFIXES, list_images
from imgrestore.io.locations import MIN_FREE_BYTES, check_out_file, check_out_folder
from imgrestore.io.read import ImageWarning, image_shape, read_image
from imgrestore.io.samples import sample_images
from imgrestore.io.write import write_bytes_atomic, write_image

__all__ = [
    "IMAGE_SUFFIXES",
    "MIN_FREE_BYTES",
    "ImageWarning",
    "check_out_file",
    "check_out_folder",
    "from_uint",
    "image_shape",
    "list_images",
    "read_image",
    "sample_images",
    "to_uint",
    "write_bytes_atomic",
    "write_image",
]
