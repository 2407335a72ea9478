"""Shared fixtures: the ../shared data folder, GPU skipping, CLI runner, installed test plugins."""

from __future__ import annotations

import os
import subprocess
import sys
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


def pytest_collection_modifyitems(config, items):
    from imgrestore.backend import gpu_status

    ok, why = gpu_status()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"no GPU: {why}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


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
