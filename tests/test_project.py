"""Project-level promises: the README's test command is CI's, and the CLI starts light."""

import re
import subprocess
import sys

from conftest import ROOT


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_cmd = next(b for b in blocks if "pytest" in b and "install" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd.strip() in ci.splitlines()


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from imgrestore.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'numba', 'cupy', 'skimage', 'imageio') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out


def test_bench_cli_prints_table_against_peers(cli):
    code, out, err = cli("bench", "degrade", "bicubic", "--size", "64", "--repeats", "1", "--device", "cpu")
    assert code == 0, err
    assert "of copy BW" in out and "imgrestore numba" in out and "torch interpolate" in out
    code, out, err = cli("bench", "degrade", "awgn", "--size", "32", "--repeats", "1", "--device", "cpu", "--json")
    assert code == 0 and '"mpix_per_s"' in out


def test_plugins_verbose_lists_parameters(cli):
    code, out, _ = cli("plugins", "-v", "--device", "cpu")
    assert code == 0
    assert "sigma: noise standard deviation (float, in [0, 255], on the 0-255 scale" in out


def test_every_package_is_listed_for_setuptools():
    """A non-editable install ships only listed packages: every folder with an __init__.py."""
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    for init in (ROOT / "imgrestore").rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(ROOT).parts)
        assert name in listed, f"{name} is missing from [tool.setuptools] packages"
        assert cfg["package-dir"].get(name) == init.parent.relative_to(ROOT).as_posix()
