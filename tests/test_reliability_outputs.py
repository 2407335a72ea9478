"""Issue 13 (items 1, 2, 8, 9) and issue 14 item 7: outputs that cannot be written (read-only,
full disk, ``--out ""``), resource bombs in synth, the per-shard synth lock, leftovers of a
smaller rerun, ``fit --resume`` edge cases, and one error format for every command.

A read-only folder and a full disk are simulated (the suite may run as root, where chmod does
not stop a write, and cannot mount a tmpfs): ``os.open`` answers EROFS under a folder, and
``os.fsync`` answers ENOSPC for chosen files (found through /proc/self/fd).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import one_line
from imgrestore.errors import UserError


def leftovers(folder: Path) -> list[Path]:
    """Temporary or probe files and locks anywhere under `folder`."""
    return [p for p in folder.rglob("*") if ".tmp" in p.name or "probe" in p.name or p.suffix == ".lock"]


@pytest.fixture
def read_only(monkeypatch):
    """read_only(folder): opening a file for writing under `folder` fails with EROFS."""
    real = os.open

    def deny(folder: Path) -> None:
        root = str(Path(folder).resolve())

        def fake(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and os.path.abspath(path).startswith(root):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", fake)

    return deny


@pytest.fixture
def full_disk(monkeypatch):
    """full_disk(test, after=0): fsync of a file whose path passes `test` fails with ENOSPC once
    `after` such files have been written."""
    real = os.fsync

    def fill(test, after: int = 0) -> None:
        seen = [0]

        def fake(fd):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if test(target):
                seen[0] += 1
                if seen[0] > after:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd)

        monkeypatch.setattr(os, "fsync", fake)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to map a file descriptor to its path")
    return fill


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    save_checkpoint(path, "dncnn-s", {"depth": 3, "features": 4, "bn": False},
                    DnCNN(depth=3, features=4, bn=False).state_dict())
    return path


@pytest.fixture
def images(tmp_path) -> Path:
    from imgrestore.io import write_image

    folder = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(folder / f"a{i}.png", rng.random((24, 24, 1), dtype=np.float32))
    return folder


def _commands(tmp: Path, out: str, model: Path, images: Path) -> dict[str, list[str]]:
    src = tmp / "kair.pth"
    if not src.exists():
        import torch

        from imgrestore.nets.dncnn import DnCNN

        torch.save(DnCNN(depth=3, features=4, bn=False).state_dict(), src)
    fit = ["fit", "--plugin", "dncnn-s", "--iters", "1", "--batch", "2", "--patch", "16", "--net-config",
           "depth=3,features=4", "--val-count", "0", "--workers", "0", "--device", "cpu", "--quiet"]
    return {
        "synth": ["synth", "awgn", "--count", "4", "--patch", "16", "--device", "cpu", "--out", out],
        "fit": [*fit, "--out", out],
        "restore": ["restore", str(images), "--weights", str(model), "--device", "cpu", "--out", out],
        "eval": ["eval", "--weights", str(model), "--clean", str(images), "--degrade", "awgn:sigma=25",
                 "--device", "cpu", "--out", out],
        "import-weights": ["import-weights", "dncnn", str(src), "--out", out + ("/k.safetensors" if out else "")],
    }


# --- item 1: output folders and disks ---------------------------------------------------------

@pytest.mark.parametrize("command", ["synth", "fit", "restore", "eval", "import-weights"])
def test_read_only_output_is_one_line_before_work(tmp_path, cli, read_only, small_model, images, command):
    ro = tmp_path / "ro"
    ro.mkdir()
    argv = _commands(tmp_path, str(ro / "x"), small_model, images)[command]
    read_only(ro)
    t0 = time.perf_counter()
    code, out, err = cli(*argv)
    line = one_line(code, err)
    assert str(ro / "x") in line and "Read-only file system" in line, line
    assert time.perf_counter() - t0 < 30
    assert not any(ro.iterdir())  # nothing created, no probe left


@pytest.mark.parametrize("command", ["synth", "fit", "restore", "eval", "import-weights"])
def test_empty_out_never_writes_into_the_current_folder(tmp_path, cli, monkeypatch, small_model, images, command):
    argv = _commands(tmp_path, "", small_model, images)[command]
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, err = cli(*argv)
    line = one_line(code, err)
    assert "--out" in line and "empty path" in line
    assert not any(work.iterdir())


def test_full_disk_is_refused_up_front(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from imgrestore.io import check_out_file, check_out_folder

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(3 << 20, 3 << 20, 4096))
    with pytest.raises(UserError, match=r"--out .*: the disk is full \(4,096 bytes free\)"):
        check_out_folder(tmp_path / "new" / "deeper")
    with pytest.raises(UserError, match="the disk is full"):
        check_out_file(tmp_path / "m.safetensors", "--out")
    assert not any(tmp_path.iterdir())


def test_out_that_is_a_file_or_folder_of_the_wrong_kind(tmp_path):
    from imgrestore.io import check_out_file, check_out_folder

    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="is a file, expected a folder"):
        check_out_folder(tmp_path / "f")
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_out_folder(tmp_path / "f" / "sub")
    with pytest.raises(UserError, match="is a folder, expected a file name"):
        check_out_file(tmp_path)
    with pytest.raises(UserError, match="empty path"):
        check_out_folder("")


def test_write_bytes_atomic_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, full_disk):
    from imgrestore.io import write_bytes_atomic

    full_disk(lambda t: t.startswith(str(tmp_path)))
    with pytest.raises(OSError) as e:
        write_bytes_atomic(tmp_path / "a.png", b"x" * 100)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "a.png")
    assert not any(tmp_path.iterdir())


SYNTH = ["synth", "awgn:sigma=5-30", "--count", "40", "--patch", "24", "--batch", "8", "--device", "cpu",
         "--workers", "2"]


@pytest.mark.parametrize("where", ["png", "journal"])
def test_synth_full_disk_is_one_line_and_resumes_bit_exactly(tmp_path, cli, full_disk, monkeypatch, where):
    ref = tmp_path / "ref"
    assert cli(*SYNTH, "--out", str(ref))[0] == 0
    out = tmp_path / "out"
    if where == "png":
        full_disk(lambda t: "/input/." in t, after=10)
    else:
        full_disk(lambda t: t.endswith(".jsonl"), after=1)
    code, _, err = cli(*SYNTH, "--out", str(out))
    line = one_line(code, err)
    assert "No space left on device" in line and "rerun the same command to resume" in line
    assert ("/input/" in line) if where == "png" else ("shard-0-of-1.jsonl" in line)
    assert not leftovers(out), leftovers(out)
    monkeypatch.undo()  # space freed
    assert cli(*SYNTH, "--out", str(out))[0] == 0
    assert (out / "manifest.jsonl").read_bytes() == (ref / "manifest.jsonl").read_bytes()
    for p in sorted((ref / "input").iterdir()):
        assert (out / "input" / p.name).read_bytes() == p.read_bytes()


def test_restore_full_disk_mid_run_is_one_line(tmp_path, cli, full_disk, small_model, images):
    out = tmp_path / "r"
    full_disk(lambda t: t.startswith(str(out)), after=1)
    code, _, err = cli("restore", str(images), "--weights", str(small_model), "--out", str(out), "--device", "cpu")
    line = one_line(code, err)
    assert "No space left on device" in line and str(out) in line and ".tmp" not in line
    assert len(list(out.glob("*.png"))) == 1 and not leftovers(out)


def test_main_turns_a_late_disk_error_into_one_line(monkeypatch, capsys):
    """A full disk no earlier check could foresee (e.g. a restore's PNG) is one line naming the file."""
    from imgrestore.cli import main as m

    def boom(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/out/x.png")

    monkeypatch.setattr(m.cli, "main", boom)
    with pytest.raises(SystemExit) as e:
        m.main(["synth"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == "imgrestore: error: /data/out/x.png: No space left on device"


# --- item 2: resource bombs in synth ----------------------------------------------------------

def test_bicubic_tiny_scale_is_refused_before_allocating(tmp_path, cli):
    t0 = time.perf_counter()
    code, _, err = cli("synth", "bicubic:scale=0.001", "--out", str(tmp_path / "o"), "--count", "2", "--device", "cpu")
    line = one_line(code, err)
    assert "128000x128000" in line and "needs about" in line and "free" in line
    assert time.perf_counter() - t0 < 20
    assert not (tmp_path / "o").exists()


def test_count_beyond_int64_is_one_line(tmp_path, cli):
    code, _, err = cli("synth", "awgn", "--out", str(tmp_path / "o"), "--count", "9" * 20, "--device", "cpu")
    assert "--count 99999999999999999999" in one_line(code, err)


def test_huge_count_streams_its_to_do_list(tmp_path):
    """--count 10^9 starts at once: the first batch is written before any to-do list is built,
    and a stop after it leaves a consistent, resumable folder (no lock)."""
    from imgrestore.chain import Chain
    from imgrestore.sources.source import builtin_sources
    from imgrestore.synth import SynthConfig, synthesize

    class Stop(Exception):
        pass

    seen = []

    def progress(done, total):
        seen.append((done, total, time.perf_counter()))
        if done >= 8:
            raise Stop

    cfg = SynthConfig(chain=Chain.load("awgn"), out=tmp_path / "o", patch=16, count=10**9, batch=8, workers=1)
    t0 = time.perf_counter()
    with pytest.raises(Stop):
        synthesize(cfg, builtin_sources(), progress=progress)
    assert seen[0][:2] == (0, 10**9)
    assert seen[0][2] - t0 < 5  # 10^9 indices were never listed
    journal = (tmp_path / "o" / ".synth" / "shard-0-of-1.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in journal] == list(range(8))  # the next batch may be on disk, unjournaled
    assert not leftovers(tmp_path / "o")


# --- item 8: concurrency and leftovers --------------------------------------------------------

def test_synth_takes_a_lock_per_shard(tmp_path, cli):
    out = tmp_path / "o"
    state = out / ".synth"
    state.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (state / "shard-0-of-1.lock").write_text(str(holder.pid))
        code, _, err = cli("synth", "awgn", "--out", str(out), "--count", "4", "--patch", "16", "--device", "cpu")
        line = one_line(code, err)
        assert f"pid {holder.pid}" in line and "shard 0/1" in line
        assert not (out / "input").exists()
        # another shard of the same folder is not blocked
        code, _, err = cli("synth", "awgn", "--out", str(out), "--count", "4", "--patch", "16", "--device", "cpu",
                           "--shard", "1/2")
        assert code == 0, err
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and taken over
    code, _, err = cli("synth", "awgn", "--out", str(out), "--count", "4", "--patch", "16", "--device", "cpu")
    assert code == 0, err
    assert len((state / "shard-0-of-1.jsonl").read_text().splitlines()) == 4
    assert not (state / "shard-0-of-1.lock").exists()


def test_experiment_lock_is_the_same_lock(tmp_path):
    """imgrestore run and synth share imgrestore.lockfile (one implementation)."""
    from imgrestore import lockfile
    from imgrestore.experiment import STATE_DIR, runner

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".experiment").mkdir()
        (tmp_path / STATE_DIR / "lock").write_text(str(holder.pid))
        with pytest.raises(UserError, match=f"pid {holder.pid}"):
            with runner._lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with runner._lock(tmp_path):
        assert (tmp_path / STATE_DIR / "lock").read_text() == str(os.getpid())
    assert lockfile.pid_alive(os.getpid()) and not lockfile.pid_alive(holder.pid)


def test_smaller_count_rerun_says_what_happens(tmp_path, cli):
    args = ["synth", "awgn", "--out", str(tmp_path / "o"), "--patch", "16", "--device", "cpu"]
    assert cli(*args, "--count", "10")[0] == 0
    code, _, err = cli(*args, "--count", "4")
    assert code == 0, err
    assert "holds 6 pair(s)" in err and "left out of manifest.jsonl" in err
    assert len((tmp_path / "o" / "manifest.jsonl").read_text().splitlines()) == 4


FIT = ["fit", "--plugin", "dncnn-s", "--batch", "2", "--patch", "16", "--net-config", "depth=3,features=4",
       "--val-count", "0", "--workers", "0", "--device", "cpu", "--quiet"]


def test_fit_resume_edge_cases(tmp_path, cli):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    code, _, err = cli(*FIT, "--iters", "3", "--out", str(out), "--resume")
    assert code == 0, err
    assert "nothing to resume" in err and str(out) in err
    code, _, err = cli(*FIT, "--iters", "2", "--out", str(out), "--resume")
    line = one_line(code, err)
    assert "--iters 2" in line and "done 3 iterations" in line
    assert json.loads((out / "run.json").read_text())["iters"] == 3


# --- item 9 / issue 14 item 7: one error format, --device, help text ---------------------------

@pytest.mark.parametrize("argv,needle", [
    (["synth", "awgn", "--out", "o", "--bits", "12"], "'12' is not one of '8', '16'"),
    (["synth", "awgn", "--outt", "o"], "Did you mean"),
    (["synht"], "Did you mean 'synth'"),
    (["synth"], "Missing argument"),
])
def test_click_usage_errors_are_one_line(cli, argv, needle):
    code, out, err = cli(*argv)
    line = one_line(code, err)
    assert needle in line and "--help" in line
    assert err.strip() == line


def test_out_that_is_a_file_is_one_line(tmp_path, cli):
    (tmp_path / "f").write_text("x")
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--out", str(tmp_path / "f"))
    assert "is a file" in one_line(code, err)


def test_5000_digit_sigma_quotes_what_was_typed(tmp_path, cli):
    code, _, err = cli("synth", "awgn:sigma=" + "9" * 5000, "--out", str(tmp_path / "o"))
    line = one_line(code, err)
    assert "'9999999999999999...99999999' (5,000 characters)" in line and "inf" not in line
    assert len(line) < 300


def test_restore_checks_every_input_before_writing(tmp_path, cli, small_model, images):
    (images / "bad.png").write_bytes(b"not an image")
    (images / "cut.png").write_bytes((images / "a1.png").read_bytes()[:60])
    out = tmp_path / "r"
    code, _, err = cli("restore", str(images), "--weights", str(small_model), "--out", str(out), "--device", "cpu")
    line = one_line(code, err)
    assert "2 of 5 input(s)" in line and "bad.png" in line and "cut.png" in line and "nothing was written" in line
    assert not out.exists()


def test_every_computing_command_takes_device(monkeypatch):
    import click

    from imgrestore.cli.common import DEVICE_ENV
    from imgrestore.cli.main import cli as root

    ctx = click.Context(root)
    bench = root.get_command(ctx, "bench")
    commands = {n: root.get_command(ctx, n) for n in ("synth", "fit", "restore", "eval", "run")}
    commands.update({f"bench {n}": bench.get_command(ctx, n) for n in bench.list_commands(ctx)})
    for name, cmd in commands.items():
        assert "device" in {p.name for p in cmd.params}, name
    device = next(p for p in commands["synth"].params if p.name == "device")
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert device.get_default(ctx) == "cpu"
    monkeypatch.setenv(DEVICE_ENV, "nonsense")
    assert device.get_default(ctx) == "auto"


def test_synth_help_shows_a_single_percent(cli):
    code, out, _ = cli("synth", "--help")
    assert code == 0 and "index % N == I" in out and "%%" not in out
