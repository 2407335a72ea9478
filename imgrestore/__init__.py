"""imgrestore: plugin-based image restoration toolkit.

Importing the package is cheap on purpose: heavy dependencies (numba, torch, cupy,
scikit-image) are imported only by the functions that need them, so the CLI starts at once.
"""

__version__ = "0.1.0"
