"""Restoration networks as torch modules, one network per file.

Nothing is imported here: each module imports torch itself, and the network plugins in
``plugins/`` reach them through builder functions, so loading the registry stays cheap.
``imgrestore.nets.util`` holds what all of them share (parameter counts, BN folding).
"""
