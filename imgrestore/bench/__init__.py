"""Benchmarks: the library side of ``imgrestore bench`` and of the scripts in benchmarks/.

One home for timing code, above the kernels, degradations and networks it times (imports
point down: nothing below imports from here):

- ``timing.py``   adaptive timers (``timed``, ``cuda_timed``), copy bandwidth, rows, tables
- ``degrade.py``  ``bench degrade NAME``: which rows a stage gets (its plugin's, built-in peers, alone)
- ``net.py``      ``bench net NAME``: restore path against plain eager, FLOPs, dense-kernel peak
- ``noise.py``, ``jpeg.py``, ``camera.py``, ``resize.py``, ``moire.py``: each kernel family
  against its strongest peers (NumPy oracle, Pillow, torch, CuPy, colour-demosaicing)
"""
