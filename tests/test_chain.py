"""The composer: one-line specs, TOML tables, errors, reproducibility per (seed, index)."""

import numpy as np
import pytest

from imgrestore.chain import Chain
from imgrestore.errors import SpecError


def test_parse_and_round_trip():
    c = Chain.parse("bicubic:scale=4 | awgn:sigma=0-55 | jpeg:quality=30-95")
    assert [s.name for s in c.stages] == ["bicubic", "awgn", "jpeg"]
    again = Chain.parse(c.spec())
    assert again.spec() == c.spec()
    assert c.config()[1] == {"name": "awgn", "sigma": {"min": 0.0, "max": 55.0}, "clip": False}


def test_toml_table_equals_spec(tmp_path):
    p = tmp_path / "chain.toml"
    p.write_text(
        '[[degradation]]\nname = "bicubic"\nscale = 4\n\n'
        '[[degradation]]\nname = "awgn"\nsigma = {min = 0, max = 55}\n\n'
        '[[degradation]]\nname = "jpeg"\nquality = "30-95"\n'
    )
    assert Chain.load(str(p)).spec() == Chain.parse("bicubic:scale=4|awgn:sigma=0-55|jpeg:quality=30-95").spec()


@pytest.mark.parametrize(
    "spec,needles",
    [
        ("bicubc:scale=4", ["'bicubc'", "did you mean 'bicubic'", "known degradations", "awgn", "jpeg"]),
        ("awgn:sigmaa=3", ["unknown parameter 'sigmaa'", "known parameters: sigma, clip"]),
        ("awgn:sigma=-5", ["awgn:sigma", "out of range"]),
        ("jpeg:quality=0", ["jpeg:quality", "out of range"]),
        ("jpeg:quality=101", ["jpeg:quality", "out of range"]),
        ("bicubic:scale=0", ["bicubic:scale", "out of range"]),
        ("awgn | | jpeg", ["empty stage"]),
        ("awgn:25", ["expected KEY=VALUE", "'25'"]),
        ("", ["empty degradation spec", "known degradations"]),
    ],
)
def test_bad_specs_name_the_token(spec, needles):
    with pytest.raises(SpecError) as e:
        Chain.parse(spec)
    msg = str(e.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, msg


def test_choice_lists_in_one_line_spec():
    c = Chain.parse("jpeg:subsampling=420,444,quality=50")
    v = c.stages[0].settings.values
    assert v["subsampling"].options == ("420", "444") and v["quality"].value == 50


def _batch(n, size=24, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3), dtype=np.float32)


def test_sample_depends_only_on_seed_and_index():
    chain = Chain.parse("awgn:sigma=0-55 | jpeg:quality=30-95")
    clean = _batch(6)
    whole = chain(clean, seed=7, indices=range(6))
    # other batch sizes and order
    rev = chain(clean[::-1].copy(), seed=7, indices=list(range(5, -1, -1)))
    singles = [chain(clean[i : i + 1], seed=7, indices=[i]) for i in range(6)]
    for i in range(6):
        assert np.array_equal(whole.input[i], rev.input[5 - i])
        assert np.array_equal(whole.input[i], singles[i].input[0])
        assert whole.params[i] == singles[i].params[0] == chain.draw(7, i)
    assert whole.params[0] != whole.params[1]
    other_seed = chain(clean, seed=8, indices=range(6))
    assert not np.array_equal(other_seed.input, whole.input)


def test_params_travel_with_each_pair():
    chain = Chain.parse("awgn:sigma=10-20 | jpeg:quality=40")
    pair = chain(_batch(3), seed=1, indices=[10, 11, 12])
    for rec in pair.params:
        assert [r["name"] for r in rec] == ["awgn", "jpeg"]
        assert 10 <= rec[0]["sigma"] <= 20 and rec[1]["quality"] == 40
    assert pair.side["sigma"].shape == (3, 24, 24, 1)
    assert np.allclose(pair.side["sigma"][:, 0, 0, 0] * 255, [r[0]["sigma"] for r in pair.params])
    assert pair.target.shape == (3, 24, 24, 3)


def test_bicubic_stage_matches_imresize_and_resizes_side_outputs():
    from imgrestore.kernels.resize import imresize

    clean = _batch(2, size=40)
    pair = Chain.parse("awgn:sigma=5 | bicubic:scale=4,clip=false")(clean, 0, [0, 1])
    noisy = Chain.parse("awgn:sigma=5")(clean, 0, [0, 1]).input
    assert np.array_equal(pair.input, imresize(noisy, 0.25))
    assert pair.input.shape == (2, 10, 10, 3) and pair.target.shape == (2, 40, 40, 3)
    assert pair.side["sigma"].shape == (2, 10, 10, 1)
    assert np.allclose(pair.side["sigma"], 5 / 255)
    clipped = Chain.parse("bicubic:scale=3")(clean, 0, [0, 1]).input
    assert clipped.min() >= 0 and clipped.max() <= 1 and clipped.shape == (2, 14, 14, 3)
    assert Chain.parse("bicubic:scale=3").output_size((40, 40)) == (14, 14)
