"""Degradation models: the protocol, parameter spaces and the chain composer.

Import from here in plugins: ``from imgrestore.degrade import Degradation, Param, Pair``.
"""

from imgrestore.degrade.base import Array, Degradation, Pair, StageContext
from imgrestore.degrade.chain import Chain
from imgrestore.degrade.params import Param, Value

__all__ = ["Array", "Chain", "Degradation", "Pair", "Param", "StageContext", "Value"]
