"""Pretrained models by name (``--model NAME``, ``imgrestore models``).

A :class:`ModelEntry` names a network plugin and its config, and says where the weights come
from: a file shipped inside a package (:class:`Packaged`) or a public URL fetched on first use
into the cache and SHA-256 checked (:class:`Remote`). These types and the built-in entries are
defined in :mod:`imgrestore.pretrained` (below the registry, which checks plugins' entries
against them); plugins add theirs through the ``imgrestore_models`` hook. This package finds,
fetches, loads and packages models by name, looking plugins' entries and networks up in
:mod:`imgrestore.registry`. Its top level imports nothing heavy: torch is imported only when a
model loads.
"""

from __future__ import annotations

from imgrestore.pretrained import ModelEntry, Packaged, Remote

__all__ = ["ModelEntry", "Packaged", "Remote"]
