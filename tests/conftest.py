"""Shared fixtures: the ../shared data folder, GPU skipping, CLI runner, installed test plugins."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data, or a clean skip when that data is not here."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"reference data {p} not present (../shared/data is not part of the repo)")
    return p


@functools.cache
def load_script(name: str) -> types.ModuleType:
    """``benchmarks/<name>.py`` as a module, executed once per test session.

    It is registered in ``sys.modules`` as ``name``, which is how the scripts import each other
    (a script that needs a sibling puts benchmarks/ on ``sys.path`` itself: moire_scores imports
    moire_realism), so a script and the sibling it imports share one module object; one that a
    script already imported that way is reused."""
    path = ROOT / "benchmarks" / f"{name}.py"
    mod = sys.modules.get(name)
    if mod is not None and Path(getattr(mod, "__file__", "") or "").resolve() == path:
        return mod
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


def pytest_collection_modifyitems(config, items):
    from imgrestore.backend import gpu_status

    ok, why = gpu_status()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"no GPU: {why}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def one_line(code: int, err: str) -> str:
    """The single ``imgrestore: error:`` line of a failed command (exit 2, no traceback, no usage text)."""
    assert code == 2, err
    assert "Traceback" not in err and "Usage:" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("imgrestore: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def cli(capsys):
    """Run ``imgrestore ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from imgrestore.cli.main import main

    def run(*args: str):
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """The example plugin and the broken-plugin fixture, pip-installed into a private folder.

    Installing with ``--target`` puts real dist-info (entry points, version) on a path that
    only subprocesses given it as PYTHONPATH see, so the rest of the suite is unaffected.
    """
    site = tmp_path_factory.mktemp("plugin_site")
    pkgs = [ROOT / "examples" / "imgrestore-blur", ROOT / "tests" / "fixtures" / "imgrestore-broken"]
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--no-index", "--target", str(site), *map(str, pkgs)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"could not install the test plugins: {res.stderr[-2000:]}")
    return site


@pytest.fixture
def run_with_plugins(plugin_site):
    """Run the imgrestore CLI in a subprocess that sees the test plugins."""

    def run(*args: str, cwd: Path | None = None):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(plugin_site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return subprocess.run([sys.executable, "-m", "imgrestore", *args], capture_output=True, text=True,
                              env=env, cwd=cwd)

    return run
