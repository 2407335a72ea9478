"""Progress on long operations (issue 14 item 4): one module, stderr only, bars on a terminal,
plain lines every few seconds without one, the first-run kernel compile announced."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from imgrestore import progress as P


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_without_a_terminal(monkeypatch):
    monkeypatch.setenv(P.ENV_EVERY, "0")
    buf = io.StringIO()
    with P.bar(3, "eval dncnn-s", unit="img", file=buf) as b:
        for _ in range(3):
            b.update()
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("eval dncnn-s: 1/3 img (33%)") and "left" in lines[0]
    assert lines[-1].startswith("eval dncnn-s: 3/3 img (100%)") and lines[-1].endswith("done")
    assert "\r" not in buf.getvalue()  # no bar redraws in a log file


def test_lines_are_rate_limited(monkeypatch):
    monkeypatch.setenv(P.ENV_EVERY, "3600")
    buf = io.StringIO()
    with P.bar(1000, "synth awgn", file=buf) as b:
        for _ in range(1000):
            b.update()
    assert buf.getvalue() == ""  # short work in a log: no lines at all


def test_a_bar_on_a_terminal_and_off_switch(monkeypatch):
    tty = _Tty()
    with P.bar(4, "restore dncnn-b", unit="img", file=tty) as b:
        b.update(4)
    assert "restore dncnn-b" in tty.getvalue() and "4/4" in tty.getvalue()
    monkeypatch.setenv(P.ENV_OFF, "0")
    tty = _Tty()
    with P.bar(4, "x", file=tty) as b:
        b.update(4)
    assert tty.getvalue() == ""


def test_activity_reports_elapsed_time(monkeypatch):
    import time

    monkeypatch.setenv(P.ENV_EVERY, "0")
    buf = io.StringIO()
    with P.activity("bench net dncnn-b", file=buf):
        time.sleep(1.3)
    assert "bench net dncnn-b: 0:01 elapsed" in buf.getvalue()


def test_short_label():
    long = "moire:" + ",".join(f"p{i}=0.1-0.9" for i in range(60))
    assert len(P.short_label(long)) == P.LABEL_MAX and P.short_label(long).endswith("...")


def test_kernel_compile_notice_only_on_a_cold_cache(tmp_path, monkeypatch):
    mod = tmp_path / "fake_numba.py"
    mod.write_text("x = 1\n")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(P, "_noticed", False)
    assert P.kernel_cache_cold(mod)
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    watch = P._KernelImportWatch()
    assert watch.find_spec("imgrestore.kernels.fake_numba", [str(tmp_path)]) is None  # looks, never loads
    assert watch.find_spec("imgrestore.kernels.fake_numba", [str(tmp_path)]) is None
    assert buf.getvalue() == P.COMPILE_LINE + "\n"  # once per process
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / f"fake_numba.kern-12.{tag}.nbi").write_bytes(b"")
    assert P.kernel_cache_cold(mod)  # with $NUMBA_CACHE_DIR set, Numba looks only there
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert not P.kernel_cache_cold(mod)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nc"))
    (tmp_path / "nc" / "sub").mkdir(parents=True)
    (tmp_path / "nc" / "sub" / f"fake_numba.kern-12.{tag}.nbi").write_bytes(b"")
    assert not P.kernel_cache_cold(mod)


def test_real_kernel_modules_have_a_warm_cache_here():
    """The check looks where Numba writes: after the suite's kernels ran once, caches are found."""
    import importlib.util

    spec = importlib.util.find_spec("imgrestore.kernels.resize_numba")
    from imgrestore.kernels.resize_numba import resize_numba  # noqa: F401
    from imgrestore.kernels.resize import imresize

    imresize(np.zeros((1, 16, 16, 1), np.float32), 0.5)  # compiles (or loads) the cached kernels
    assert not P.kernel_cache_cold(spec.origin)


def test_synth_label_is_the_stage_names_on_stderr_only(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(P.ENV_EVERY, "0")
    code, out, err = cli("synth", "awgn:sigma=5 | jpeg:quality=50", "--out", str(tmp_path / "o"), "--count", "3",
                         "--patch", "16", "--batch", "1", "--device", "cpu", "--workers", "1")
    assert code == 0, err
    assert out == ""
    bars = [ln for ln in err.splitlines() if ln.startswith("synth ")]
    assert bars and all(ln.startswith("synth awgn | jpeg: ") for ln in bars), err
    assert "quality" not in "".join(bars)


def test_eval_shows_progress_per_image_and_keeps_stdout_clean(cli, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from imgrestore.io import write_image
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.weights.checkpoint import save_checkpoint

    monkeypatch.setenv(P.ENV_EVERY, "0")
    cfg = {"depth": 3, "channels": 1, "features": 4}
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.safetensors", "dncnn-s", cfg, DnCNN(**cfg).state_dict())
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / "clean" / f"im{i}.png", rng.random((24, 24)).astype(np.float32))
    code, out, err = cli("eval", "--weights", str(tmp_path / "m.safetensors"), "--clean", str(tmp_path / "clean"),
                         "--degrade", "awgn:sigma=25", "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["mean"]["images"] == 3
    assert "eval dncnn-s: 3/3 img (100%)" in err


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("cols", [100, 0])
def test_bar_in_a_real_terminal_and_lines_in_one_without_columns(cols):
    """In a sized pseudo-terminal a tqdm bar is drawn; one of 0 columns (nothing can be drawn)
    gets the plain lines."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    code = "import time\nfrom imgrestore.progress import bar\nwith bar(3, 'demo') as b:\n    for _ in range(3):\n" \
           "        b.update(); time.sleep(0.05)\n"
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of `cols` columns
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        os.environ[P.ENV_EVERY] = "0"
        os.execv(sys.executable, [sys.executable, "-c", code])
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    os.waitpid(pid, 0)
    text = buf.decode(errors="replace")
    if cols:
        assert "demo: 100%" in text and "3/3" in text and "|" in text, text
    else:
        assert "demo: 3/3 it (100%)" in text and "|" not in text, text


def test_fit_progress_without_a_terminal_is_a_line_every_few_seconds(monkeypatch):
    """Logs and CI get the first read-back's line, then one per IMGRESTORE_PROGRESS_EVERY seconds
    (not one per log interval), and the last."""
    import io

    from imgrestore.train.log import Progress

    monkeypatch.setenv("IMGRESTORE_PROGRESS_EVERY", "1000")
    buf = io.StringIO()
    p = Progress(100, every=10, stream=buf)
    for it in range(1, 101):
        p.update(it, {"loss": 1.0 / it})
    lines = buf.getvalue().splitlines()
    assert [ln.split()[1] for ln in lines] == ["10/100", "100/100"]
    monkeypatch.setenv("IMGRESTORE_PROGRESS_EVERY", "0")
    buf = io.StringIO()
    p = Progress(20, every=10, stream=buf)
    for it in range(1, 21):
        p.update(it, {"loss": 1.0})
    assert len(buf.getvalue().splitlines()) == 20  # period 0: every update
