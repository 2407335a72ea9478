"""Clean-image sources: where the clean side of every training pair comes from.

- ``source.py``  :class:`Source` records: image files of a folder (``scan_sources``),
  scikit-image's samples (``builtin_sources``), screens rendered in code (``screen_sources``)
- ``cache.py``   decoded images in a small LRU (synth and training)
- ``pool.py``    sources held whole where the chain runs (NumPy or CuPy), one gather per batch;
  the crop draw shared by every path (``source_order``, ``crop_yx``)
- ``screens.py`` the screen renderer's entry point (``render_screen``), split by job into
  ``screen_layout.py`` (what a screen shows), ``screen_apps.py`` (window contents),
  ``screen_items.py`` (the display list and its drawing), ``screen_assets.py`` (font, photos)
"""
