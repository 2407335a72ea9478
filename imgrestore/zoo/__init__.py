"""Pretrained models by name (``--model NAME``, ``imgrestore models``).

A :class:`ModelEntry` names a network plugin and its config, and says where the weights come
from: a file shipped inside a package (:class:`Packaged`) or a public URL fetched on first use
into the cache and SHA-256 checked (:class:`Remote`). Built-in entries are in
:mod:`imgrestore.zoo.builtin`; plugins add theirs through the ``imgrestore_models`` hook.
This package's top level imports nothing heavy: torch is imported only when a model loads.
"""

from __future__ import annotations

from imgrestore.zoo.entry import ModelEntry, Packaged, Remote

__all__ = ["ModelEntry", "Packaged", "Remote"]
