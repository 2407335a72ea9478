"""Parameter spaces: parsing of fixed values, ranges and choices; bounds; draws."""

import numpy as np
import pytest

from imgrestore.degrade.params import Param
from imgrestore.errors import SpecError

SIGMA = Param(float, 25.0, "sigma", min=0, max=255)
QUALITY = Param(int, 90, "quality", min=1, max=100)
SCALE = Param(float, 4.0, "scale", min=0, min_open=True, random=False)
PHASE = Param(str, "RGGB", "phase", choices=("RGGB", "GRBG", "GBRG", "BGGR"))


def test_fixed_range_choice():
    assert SIGMA.parse("25", "w").value == 25.0
    v = SIGMA.parse("0-55", "w")
    assert (v.kind, v.lo, v.hi) == ("range", 0.0, 55.0)
    assert SIGMA.parse("1.5..2.5", "w").kind == "range"
    c = PHASE.parse(["RGGB", "BGGR"], "w")
    assert c.kind == "choice" and c.options == ("RGGB", "BGGR")
    assert QUALITY.parse({"min": 30, "max": 95}, "w").spec() == "30-95"
    assert SIGMA.parse("5-5", "w").kind == "fixed"


@pytest.mark.parametrize(
    "param,raw,needle",
    [
        (SIGMA, "-5", "out of range"),
        (SIGMA, "300", "out of range"),
        (QUALITY, "0", "out of range"),
        (QUALITY, "101", "out of range"),
        (QUALITY, "50.5", "not a valid int"),
        (SCALE, "0", "out of range"),
        (SCALE, "2-4", "single value"),
        (SIGMA, "abc", "not a valid float"),
        (SIGMA, "nan", "not a valid float"),
        (SIGMA, "40-10", "empty"),
        (PHASE, "XYZW", "not one of"),
    ],
)
def test_bad_values_name_the_parameter(param, raw, needle):
    with pytest.raises(SpecError) as e:
        param.parse(raw, "deg:param")
    assert needle in str(e.value) and "deg:param" in str(e.value)
    assert "\n" not in str(e.value)


def test_draws_cover_range_and_are_integers():
    rng = np.random.default_rng(1)
    q = QUALITY.parse("30-95", "w")
    draws = [q.draw(rng) for _ in range(5000)]
    assert all(isinstance(d, int) for d in draws)
    assert min(draws) == 30 and max(draws) == 95
    s = SIGMA.parse("0-55", "w")
    xs = np.array([s.draw(rng) for _ in range(5000)])
    assert 0 <= xs.min() < 1 and 54 < xs.max() <= 55
    assert abs(xs.mean() - 27.5) < 1.0


def test_every_value_consumes_one_draw():
    """Fixing a parameter must not shift the draws of the parameters after it."""
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    SIGMA.parse("10", "w").draw(a)
    SIGMA.parse("0-55", "w").draw(b)
    assert a.random() == b.random()
