"""Degradation models: the protocol a plugin implements and its parameter spaces.

Import from here in plugins: ``from imgrestore.degrade import Degradation, Param, Pair``. The
composer that looks stages up by name, :class:`imgrestore.chain.Chain`, sits beside the registry.
"""

from imgrestore.degrade.base import Array, Degradation, Pair, StageContext
from imgrestore.degrade.params import Param, Value

__all__ = ["Array", "Degradation", "Pair", "Param", "StageContext", "Value"]
