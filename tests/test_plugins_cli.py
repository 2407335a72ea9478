"""Third-party plugins installed as real distributions: listing, use in synth, isolation."""

import json


def test_plugins_lists_builtins(cli):
    code, out, err = cli("plugins", "--device", "cpu")
    assert code == 0, err
    assert "bicubic  (imgrestore 0.1.0, built-in" in out
    assert "degradation awgn:" in out and "degradation jpeg:" in out


def test_example_plugin_shows_and_broken_ones_are_isolated(run_with_plugins):
    res = run_with_plugins("plugins", "--json", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    rows = {p["name"]: p for p in json.loads(res.stdout)["plugins"]}
    assert rows["blur"]["dist"] == "imgrestore-blur" and rows["blur"]["version"] == "0.2.0"
    assert rows["blur"]["provides"] == {"degradation": ["blur"], "command": ["blur-kernel"]}
    # the broken plugin is reported by name, distribution and error; it provides nothing
    assert "RuntimeError: this plugin is broken on purpose" in rows["raises"]["error"]
    assert "plugin 'raises' (imgrestore-broken 6.6.6): failed to import: RuntimeError" in res.stderr
    # the clashing plugin keeps its new name but cannot take 'bicubic'
    assert rows["clash"]["provides"] == {"degradation": ["identity"]}
    assert "degradation name 'bicubic' is already provided by plugin 'bicubic'" in res.stderr
    assert rows["bicubic"]["provides"] == {"degradation": ["bicubic"]}
    assert "Traceback" not in res.stderr


def test_example_plugin_works_in_synth_and_adds_a_command(run_with_plugins, tmp_path):
    out = tmp_path / "pairs"
    res = run_with_plugins("synth", "blur:sigma=0.5-2 | awgn:sigma=5", "--out", str(out), "--count", "3",
                           "--patch", "48", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(l) for l in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and lines[0]["params"][0]["name"] == "blur"
    assert 0.5 <= lines[0]["params"][0]["sigma"] <= 2
    res = run_with_plugins("blur-kernel", "--sigma", "1")
    assert res.returncode == 0 and len(res.stdout.split()) == 7
    res = run_with_plugins("--help")
    assert "blur-kernel" in res.stdout


def test_disabling_a_plugin(run_with_plugins, monkeypatch):
    monkeypatch.setenv("IMGRESTORE_DISABLE_PLUGINS", "raises,clash")
    res = run_with_plugins("plugins")
    assert res.returncode == 0 and "broken on purpose" not in res.stderr
    assert "disabled by IMGRESTORE_DISABLE_PLUGINS" in res.stdout
