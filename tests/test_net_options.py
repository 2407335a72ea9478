"""Network builder options: declared per network, shown by `plugins`, checked before any work."""

import inspect
import json

import pytest

from imgrestore.errors import UserError
from imgrestore.netconfig import CheckedBuild, NetConfigError, Option, check_config
from imgrestore.registry import check_plugin_config
from imgrestore.network import NetworkSpec
from imgrestore.registry import get_registry

torch = pytest.importorskip("torch")

NETS = get_registry().networks


@pytest.fixture(scope="module")
def built():
    """Each built-in network built once with its declared defaults."""
    return {name: spec.build() for name, spec in NETS.items()}


@pytest.mark.parametrize("name", sorted(NETS))
def test_the_table_is_the_builders_signature(name, built):
    """Every keyword argument of the torch module is declared, nothing else is, and the declared
    channel count is the spec's."""
    spec = NETS[name]
    assert isinstance(spec.build, CheckedBuild) and spec.options
    params = [p for p in inspect.signature(type(built[name]).__init__).parameters if p != "self"]
    assert [o.name for o in spec.options] == params
    chans = {o.name: o.default for o in spec.options}["channels"]
    assert chans == spec.in_channels
    for o in spec.options:
        assert o.help and o.check(o.default) == o.default  # every default passes its own check


def test_declared_defaults_are_what_gets_built(built):
    """The defaults shown are the sizes the networks have (counted on the modules)."""
    convs = lambda m: sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())  # noqa: E731
    assert convs(built["dncnn-s"]) == 17 and convs(built["dncnn-b"]) == 20
    assert built["cdncnn-b"].layers[0].in_channels == 3
    assert len(built["red30"].convs) == 15 and built["red10"].skips is False and built["red30-s2"].down == 2
    assert len(built["edsr"].body) == 32 + 1 and built["edsr"].head.out_channels == 256
    assert len(built["edsr-baseline"].body) == 16 + 1 and built["edsr-baseline"].head.out_channels == 64
    assert len(built["srresnet"].blocks) == 16
    assert [len(s) for s in (built["aindnet"].enc1, built["aindnet"].enc2, built["aindnet"].mid)] == [2, 3, 2]
    assert len(built["dmnet"].blocks) == 16 and built["dmnet"].factor == 4
    assert built["srgan-discriminator"].patch == 96


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(NetConfigError) as e:
        NETS["dncnn-b"].check_config({"lyers": 3})
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("--net-config: dncnn-b has no option 'lyers'")
    assert "did you mean 'depth'" in msg
    assert "valid: depth (int), channels (int), features (int), bn (bool), eps (float)" in msg


@pytest.mark.parametrize("cfg, words", [
    ({"depth": "abc"}, "depth=abc: dncnn-s depth: expected an int 3-1000, got 'abc' (text)"),
    ({"depth": 2}, "expected an int 3-1000, got 2 (an int)"),
    ({"depth": 3.5}, "got 3.5 (a float)"),
    ({"depth": True}, "got true (true/false)"),
    ({"bn": 1}, "bn=1: dncnn-s bn: expected true or false, got 1 (an int)"),
    ({"features": [4, 4]}, "expected an int 1-1024, got [4,4] (a list of 2)"),
    ({"eps": "small"}, "expected a float from 1e-12 to 1"),
])
def test_bad_values_name_the_type(cfg, words):
    with pytest.raises(NetConfigError) as e:
        NETS["dncnn-s"].check_config(cfg)
    assert words in str(e.value) and "'<' not supported" not in str(e.value)


def test_values_are_normalised():
    assert NETS["dncnn-s"].check_config({"depth": 4.0, "eps": 1, "bn": "false"}) == {"depth": 4, "eps": 1.0, "bn": False}
    assert NETS["aindnet"].check_config({"features": [4, 4, 8]}) == {"features": (4, 4, 8)}
    with pytest.raises(NetConfigError, match="expected 3 ints 1-1024, got \\[4,8\\]"):
        NETS["aindnet"].check_config({"features": [4, 8]})
    with pytest.raises(NetConfigError, match="expected an int, one of 1, 2, 4, got 3"):
        NETS["dmnet"].check_config({"factor": 3})
    with pytest.raises(NetConfigError, match="a multiple of 16, got 40"):
        NETS["srgan-discriminator"].check_config({"patch": 40})


def test_alias_builds_the_same_network_and_is_stored_canonically():
    spec = NETS["dncnn-s"]
    assert spec.check_config({"layers": 3}) == {"depth": 3}
    a, b = spec.build(layers=3, features=4), spec.build(depth=3, features=4)
    assert [tuple(v.shape) for v in a.state_dict().values()] == [tuple(v.shape) for v in b.state_dict().values()]
    with pytest.raises(NetConfigError, match="given twice"):
        spec.check_config({"layers": 3, "depth": 4})


def test_checkpoints_are_checked_before_anything_is_allocated(tmp_path):
    """Metadata with a key or value the table refuses is refused at load, in one line; the build
    itself checks too (depth 10^7 never reaches the torch module)."""
    from imgrestore.registry import load_network
    from imgrestore.weights.checkpoint import save_checkpoint

    spec = NETS["dncnn-s"]
    with pytest.raises(NetConfigError, match="expected an int 3-1000, got 10000000"):
        spec.build(depth=10**7)
    weights = spec.build(depth=3, features=4).state_dict()
    for cfg, words in (({"depth": 2, "features": 4}, "dncnn-s depth: expected an int 3-1000, got 2"),
                       ({"depth": 3, "features": 4, "bn": 1}, "dncnn-s bn: expected true or false, got 1"),
                       ({"depth": 3, "layer": 4}, "dncnn-s has no option 'layer' (did you mean 'depth': ")):
        path = tmp_path / "bad.safetensors"
        save_checkpoint(path, "dncnn-s", cfg, weights)
        with pytest.raises(UserError) as e:
            load_network(path)
        assert f"--weights {path}" in str(e.value) and words in str(e.value) and "\n" not in str(e.value)
    # a checkpoint written with the alias (or the canonical key) loads
    ok = tmp_path / "ok.safetensors"
    save_checkpoint(ok, "dncnn-s", {"layers": 3, "features": 4}, spec.build(depth=3, features=4).state_dict())
    model, _, ck = load_network(ok)
    assert ck.config == {"layers": 3, "features": 4} and len(model.layers) == 3 + 2 * 1 + 1


def test_a_plugin_without_a_table_keeps_its_builder():
    def build(**kw):
        return kw

    spec = NetworkSpec("thirdparty", build)
    assert spec.build is build and spec.check_config({"anything": 1}) == {"anything": 1}
    declared = NetworkSpec("declared", build, options=(Option("k", "int", 2, "a key", lo=1),))
    assert declared.build() == {"k": 2} and declared.build(k=5) == {"k": 5}
    again = NetworkSpec("declared", declared.build, options=declared.options)  # not wrapped twice
    assert again.build.raw is build


def test_unknown_keys_from_other_code_bases_get_our_name():
    """KAIR/BasicSR/EDSR-release names and other networks' words point at this network's key."""
    for net, key, ours in (("edsr", "n_resblocks", "blocks"), ("edsr", "n_feats", "features"),
                           ("dncnn-s", "nb", "depth"), ("red30", "depth", "n"), ("srresnet", "num_feat", "features"),
                           ("dmnet", "layers", "fine_layers"), ("aindnet", "in_nc", "channels")):
        with pytest.raises(NetConfigError, match=f"has no option '{key}' \\(did you mean '{ours}': "):
            NETS[net].check_config({key: 3})


def test_option_checks():
    o = Option("n", "int", 1, "n", lo=1, hi=8)
    assert o.check(8) == 8 and o.check(2.0) == 2
    for bad in (0, 9, True, "3", None, [1]):
        with pytest.raises(ValueError):
            o.check(bad)
    f = Option("x", "float", 0.5, "x", lo=0.0)
    assert f.check(1) == 1.0 and isinstance(f.check(1), float)
    for bad in (float("nan"), float("inf"), -1, "1"):
        with pytest.raises(ValueError):
            f.check(bad)
    with pytest.raises(ValueError):
        Option("bad", "complex", 0, "no such kind")
    assert check_config("net", (o,), {}) == {}


def test_check_plugin_config_names_unknown_networks():
    assert check_plugin_config("red30", {"n": 4}) == {"n": 4}
    with pytest.raises(UserError, match="--plugin 'dncnn-bb': no such network \\(did you mean 'dncnn-b'"):
        check_plugin_config("dncnn-bb", {})


# -- the command line ---------------------------------------------------------------------------


def test_fit_refuses_bad_net_config_before_any_work(cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--net-config", "layer=3", "--out", str(out), "--device", "cpu")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has no option 'layer' (did you mean 'depth': conv layers in all (the paper's D)?); valid: depth (int)" in err
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--net-config", "depth=abc", "--out", str(out), "--device", "cpu")
    assert code == 2 and "expected an int 3-1000, got 'abc' (text)" in err and "Traceback" not in err
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--stage", "surrogate", "--disc-config", "feature=8",
                       "--out", str(out), "--device", "cpu")
    assert code == 2 and "--disc-config: srgan-discriminator has no option 'feature'" in err
    assert not out.exists()


def test_plugins_shows_a_networks_options_recipe_and_transfer_set(cli):
    code, out, err = cli("plugins", "dncnn-b", "--device", "cpu")
    assert code == 0, err
    assert "network dncnn-b:" in out and "network dncnn-s:" not in out
    line = next(l for l in out.splitlines() if l.strip().startswith("depth "))
    assert line.split()[:4] == ["depth", "int", "3-1000", "20"] and "conv layers" in line and "layers" in line
    assert "recipe: loss l2-sum, adam lr 0.001, batch 128, patch 50, 150,000 iterations" in out
    assert "transfer set: none declared" in out
    code, out, _ = cli("plugins", "aindnet", "--device", "cpu")
    assert "features  3 ints 1-1024  [64,128,256]" in out
    assert "transfer set (--stage transfer trains these): estimator.*, *.ain*, tail.*" in out
    code, out, _ = cli("plugins", "-v", "--device", "cpu")
    for name in NETS:
        assert f"network {name}:" in out
    assert out.count("builder options (--net-config") == len(NETS) - 1  # the discriminator's are --disc-config
    assert "builder options (--disc-config" in out and "awgn" in out and "sigma:" in out


def test_plugins_json_and_unknown_names(cli):
    code, out, _ = cli("plugins", "edsr", "--json", "--device", "cpu")
    data = json.loads(out)
    assert list(data["networks"]) == ["edsr", "edsr-baseline"]  # the plugin's name: all it provides
    opts = {o["name"]: o for o in data["networks"]["edsr"]["options"]}
    assert opts["blocks"]["default"] == 32 and opts["res_scale"]["type"] == "float from 1e-06 to 10"
    assert data["networks"]["edsr"]["recipe"]["loss"] == "l1"
    code, _, err = cli("plugins", "dncn", "--device", "cpu")
    assert code == 2 and "no plugin, network, degradation or command of that name (did you mean 'dncnn'?)" in err
