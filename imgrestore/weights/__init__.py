"""Reading network weights: our safetensors checkpoints and the DnCNN authors' releases.

:mod:`imgrestore.weights.checkpoint` saves and loads our checkpoints (safetensors + JSON
metadata); :mod:`imgrestore.weights.dncnn_import` reads MatConvNet ``.mat``, KAIR state dicts
and the 2018 pickled module (through :mod:`imgrestore.weights.safe_pickle`). Nothing here
executes code from a file.
"""
