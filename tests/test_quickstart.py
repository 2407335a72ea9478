"""The README's quick starts, run as written at a tiny scale (issue 14's acceptance).

The commands are read from the README itself, so the README cannot drift from what works. Each
"### ..." section of "## Quick start" runs in a fresh folder, in order, in a subprocess as a user
would run it; only sizes shrink (`--count`, `--patch`, `--iters`, `--batch`, a small network, an
experiment file with small counts). Placeholders a user brings (`photo.jpg`, `noisy.png`) are made
first. A pretrained model that is neither packaged nor cached (a download) is skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SHARED_DATA

pytestmark = pytest.mark.slow

TINY_NET = "depth=3,features=8"


def quick_starts() -> dict[str, list[list[str]]]:
    """Section title -> its command lines (argv lists), from README.md's "## Quick start"."""
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Quick start\n")
    end = text.index("\n## ", start + 1)
    sections: dict[str, list[list[str]]] = {}
    for part in re.split(r"\n### ", text[start:end])[1:]:
        title, _, body = part.partition("\n")
        cmds = []
        for block in re.findall(r"```bash\n(.*?)```", body, flags=re.S):
            block = re.sub(r"\\\n\s*", " ", block)
            for line in block.splitlines():
                argv = shlex.split(line, comments=True)
                if argv:
                    cmds.append(argv)
        sections[title.strip()] = cmds
    return sections


SECTIONS = quick_starts()


def test_the_readme_has_a_quick_start_per_kind_of_user():
    titles = " | ".join(SECTIONS).lower()
    for what in ("restore a photo", "make training pairs", "train a network", "sim-to-real", "write a plugin"):
        assert what in titles, f"no quick start about {what!r}: {list(SECTIONS)}"
    assert all(SECTIONS.values()), "a quick start without commands"


def _set(argv: list[str], opt: str, value: str) -> list[str]:
    if opt in argv:
        i = argv.index(opt)
        return [*argv[: i + 1], value, *argv[i + 2:]]
    return [*argv, opt, value]


def tiny(argv: list[str]) -> list[str]:
    """The same command at a tiny scale: fewer and smaller pairs, a few iterations of a small net."""
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "synth":
        argv = _set(argv, "--count", "4")
        patch = int(argv[argv.index("--patch") + 1]) if "--patch" in argv else 128
        argv = _set(argv, "--patch", str(min(patch, 64)))
    elif cmd == "fit":
        argv = _set(_set(argv, "--iters", "2"), "--batch", "2")
        argv = _set(argv, "--net-config", TINY_NET)
        if "--val-pairs" in argv:
            argv = _set(argv, "--val-every", "1")
    out = []
    for a in argv:  # the data folder beside the checkout, wherever the test runs
        out.append(str(ROOT.parent / a[3:]) if a.startswith("../shared/") else a)
    return out


def tiny_experiment(src: Path, dst: Path) -> None:
    """The experiment file with small counts, iterations, network and timing."""
    text = src.read_text()
    for key, value in (("count", "8"), ("iters", "2"), ("batch", "4"), ("repeats", "1")):
        text = re.sub(rf"(?m)^{key} = \d+", f"{key} = {value}", text)
    text = re.sub(r'(?m)^net = "[^"]*"', f'net = "{TINY_NET}"', text)
    text = re.sub(r'(?m)^sizes = "[^"]*"', 'sizes = "64"', text)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text)


def _make_user_files(cwd: Path) -> None:
    """What a user brings: a photo of a screen and a noisy gray image."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:72, 0:96]
    fringes = 0.5 + 0.3 * np.sin(xx * 1.3 + yy * 0.4)[..., None] * np.array([1.0, 0.6, 0.2])
    Image.fromarray((np.clip(fringes, 0, 1) * 255).astype(np.uint8)).save(cwd / "photo.jpg", quality=90)
    noisy = np.clip(0.5 + 0.1 * rng.standard_normal((48, 40)), 0, 1)
    Image.fromarray((noisy * 255).astype(np.uint8)).save(cwd / "noisy.png")


def _small_clean_folder(folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(2):
        img = (np.clip(rng.random((40, 48)) * 0.3 + np.linspace(0.2, 0.7, 48), 0, 1) * 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:02d}.png")


def _unavailable_model(argv: list[str], env: dict, cwd: Path) -> str | None:
    """Why the --model of this command cannot be used offline here, or None."""
    if "--model" not in argv:
        return None
    name = argv[argv.index("--model") + 1]
    res = subprocess.run([sys.executable, "-m", "imgrestore", "models"], capture_output=True, text=True,
                         env=env, cwd=cwd)
    row = next((ln for ln in res.stdout.splitlines() if ln.split()[:1] == [name]), None)
    if row is None:
        return f"model {name!r} is not listed by `imgrestore models`"
    if re.search(r"\bnot (packaged|downloaded|cached|here)\b", row):
        return f"model {name!r} is not available offline: {row.split(None, 1)[1]}"
    return None


def _env(extra_path: Path | None = None) -> dict:
    env = dict(os.environ)
    env.update(IMGRESTORE_DEVICE="cpu", IMGRESTORE_PROGRESS="0")
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_section(title: str, cwd: Path, plugin_site: Path | None = None) -> list[tuple[list[str], str]]:
    """Run one quick start in `cwd`; returns (argv, stdout) per command run; fails on any error."""
    env = _env(plugin_site)
    _make_user_files(cwd)
    if not (SHARED_DATA / "images" / "Set12").exists():
        # the README's eval reads Set12 from ../shared/data; without it, any clean folder
        _small_clean_folder(cwd / "shared-substitute" / "Set12")
    done = []
    for argv in SECTIONS[title]:
        if argv[:2] == ["pip", "install"] or argv[:4] == [sys.executable, "-m", "pip", "install"]:
            assert plugin_site is not None and all(Path(ROOT / a).exists() for a in argv[2:]), argv
            continue  # installed once for the test session (conftest.plugin_site)
        assert argv[0] == "imgrestore", f"quick start {title!r}: {shlex.join(argv)} is not an imgrestore command"
        why = _unavailable_model(argv, env, cwd)
        if why:
            done.append((argv, f"SKIPPED: {why}"))
            continue
        if argv[1] == "run":
            tiny_experiment(ROOT / argv[2], cwd / argv[2])
        small = tiny(argv)
        if not (SHARED_DATA / "images" / "Set12").exists():
            small = [str(cwd / "shared-substitute" / "Set12") if a.endswith("shared/data/images/Set12") else a
                     for a in small]
        res = subprocess.run([sys.executable, "-m", "imgrestore", *small[1:]], capture_output=True, text=True,
                             env=env, cwd=cwd, timeout=900)
        assert res.returncode == 0, f"{shlex.join(small)} failed ({res.returncode}):\n{res.stderr[-3000:]}"
        done.append((argv, res.stdout))
    return done


def _section(word: str) -> str:
    return next(t for t in SECTIONS if word in t.lower())


def test_quick_start_restore(tmp_path):
    done = run_section(_section("restore a photo"), tmp_path)
    for argv, out in done:
        if out.startswith("SKIPPED"):
            continue
        if argv[1] == "restore":
            target = tmp_path / argv[argv.index("--out") + 1]
            assert list(target.glob("*.png")), f"{shlex.join(argv)} wrote nothing"
    assert any(a[1] == "models" for a, _ in done)


def test_quick_start_pairs(tmp_path):
    done = run_section(_section("make training pairs"), tmp_path)
    for argv, _ in done:
        if argv[1] == "synth":
            manifest = tmp_path / argv[argv.index("--out") + 1] / "manifest.jsonl"
            assert len(manifest.read_text().splitlines()) == 4


def test_quick_start_train(tmp_path):
    done = run_section(_section("train a network"), tmp_path)
    cmds = [a[1] for a, _ in done]
    assert cmds[0] == "synth" and cmds.index("fit") < cmds.index("eval") < cmds.index("restore"), cmds
    fit = next(a for a, _ in done if a[1] == "fit")
    run = tmp_path / fit[fit.index("--out") + 1]
    assert (run / "model.safetensors").exists()
    if "--val-pairs" in fit:
        assert len((run / "val.csv").read_text().splitlines()) >= 2, "no validation row"
    evals = [out for a, out in done if a[1] == "eval"]
    assert evals and all(re.search(r"\bmean\b", out, re.I) for out in evals), evals


def test_quick_start_sim2real(tmp_path):
    done = run_section(_section("sim-to-real"), tmp_path)
    assert [a[1] for a, _ in done] == ["run", "run"]
    exp = Path(done[0][0][2])
    results = tmp_path / "runs" / exp.stem / "results.json"
    assert results.exists(), "the experiment wrote no results.json"
    import json

    steps = json.loads(results.read_text())
    assert "eval-g" in json.dumps(steps)


def test_quick_start_plugin(tmp_path, plugin_site):
    done = run_section(_section("write a plugin"), tmp_path, plugin_site=plugin_site)
    listing = next(out for a, out in done if a[1:] == ["plugins"])
    assert re.search(r"^blur\b", listing, re.M), listing[:2000]
    synth = next(a for a, _ in done if a[1] == "synth")
    assert (tmp_path / synth[synth.index("--out") + 1] / "manifest.jsonl").exists()
