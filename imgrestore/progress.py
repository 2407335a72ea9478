"""Progress for every long operation, through one library (tqdm), always on stderr.

On a terminal a tqdm bar; without one (a log file, CI, a pipe) a plain line every few seconds
(``IMGRESTORE_PROGRESS_EVERY`` seconds, default 5) and one closing line for work that took that
long, so logs stay short. ``IMGRESTORE_PROGRESS=0`` turns all of it off. Standard output is never
touched: scripts parse it.

Three shapes of work:

* :class:`Progress` (``bar``) -- known number of steps (images, tiles, pairs): ``with bar(n, "eval") as b: b.update()``.
* :func:`activity` -- work with no step count (a benchmark): the elapsed time, refreshed by a thread.
* :func:`kernel_notice` -- the one line printed before Numba compiles the kernels the first time.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

ENV_OFF = "IMGRESTORE_PROGRESS"
ENV_EVERY = "IMGRESTORE_PROGRESS_EVERY"
DEFAULT_EVERY = 5.0
LABEL_MAX = 60
COMPILE_LINE = "imgrestore: compiling kernels, first run only, about a minute"


def enabled() -> bool:
    """False when ``IMGRESTORE_PROGRESS`` is 0/off/false/no."""
    return os.environ.get(ENV_OFF, "1").strip().lower() not in ("0", "off", "false", "no")


def line_period() -> float:
    """Seconds between the plain progress lines written when stderr is not a terminal."""
    try:
        return max(0.0, float(os.environ.get(ENV_EVERY, DEFAULT_EVERY)))
    except ValueError:
        return DEFAULT_EVERY


def _stream(file: TextIO | None) -> TextIO:
    return file if file is not None else sys.stderr


def _is_tty(stream: TextIO) -> bool:
    """A terminal a bar can be drawn on (a pseudo-terminal of 0 columns gets the plain lines)."""
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, ValueError, OSError):
        return True  # a terminal-like object without a descriptor: trust isatty()


def short_label(text: str, limit: int = LABEL_MAX) -> str:
    """`text` cut to `limit` characters (with an ellipsis): labels must fit one terminal line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A progress display for `total` steps (None: unknown) of `label` on stderr: a bar on a
    terminal, else lines; also called :data:`bar`.

    The same object is used with and without a terminal, so callers never branch on it.
    `position`/`leave` place a second bar under a first one and clear it when done (the tiles of
    one image under the images of a run).
    """

    def __init__(self, total: int | None, label: str, unit: str = "it", file: TextIO | None = None,
                 initial: int = 0, disable: bool = False, every: float | None = None, position: int | None = None,
                 leave: bool = True) -> None:
        self.total = total
        self.label = short_label(label)
        self.unit = unit
        self.n = initial
        self.stream = _stream(file)
        self.disabled = disable or not enabled()
        self.every = line_period() if every is None else every
        self.t0 = time.monotonic()
        self._last_line = self.t0
        self._lines = 0
        self._closed = False
        self._lock = threading.Lock()
        self._tqdm: Any = None
        self.postfix = ""
        if not self.disabled and _is_tty(self.stream):
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, desc=self.label, unit=unit, initial=initial, file=self.stream,
                              dynamic_ncols=True, leave=leave, mininterval=0.2, position=position,
                              bar_format=None if total is not None else "{desc}: {n_fmt} {unit} [{elapsed}]")

    @property
    def drawn(self) -> bool:
        """True when a tqdm bar is drawn (a terminal); False for the plain lines or when off."""
        return self._tqdm is not None

    # --- the calls a loop makes ------------------------------------------------------------
    def update(self, n: int = 1) -> None:
        """`n` more steps done (the signature of the tile callback of :class:`imgrestore.restore.Restorer`)."""
        with self._lock:
            self.n += n
            if self.disabled:
                return
            if self._tqdm is not None:
                self._tqdm.update(n)
            else:
                self._maybe_line()

    def set_total(self, total: int | None) -> None:
        """The step count once it is known (e.g. after resuming)."""
        self.total = total
        if self._tqdm is not None:
            self._tqdm.total = total
            self._tqdm.refresh()

    def set_postfix(self, text: str) -> None:
        """Text after the bar (losses of the training loop)."""
        self.postfix = text
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(text, refresh=False)

    def write(self, line: str) -> None:
        """One line on stderr that does not break the bar."""
        if self._tqdm is not None:
            self._tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def tick(self) -> None:
        """Refresh the display without a step (elapsed time of :func:`activity`)."""
        with self._lock:
            if self.disabled or self._closed:
                return
            if self._tqdm is not None:
                self._tqdm.refresh()
            else:
                self._maybe_line()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.disabled:
                return
            if self._tqdm is not None:
                self._tqdm.close()
            elif self._lines or time.monotonic() - self.t0 >= self.every > 0:
                self._line(final=True)

    # --- the plain lines ---------------------------------------------------------------------
    def _maybe_line(self) -> None:
        if self.total is not None and self.n >= self.total:
            return  # the closing line says it
        now = time.monotonic()
        if now - self._last_line >= self.every:
            self._line()
            self._last_line = now

    def _line(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self.t0
        if self.total is None:
            count = f"{self.n} {self.unit}" if self.n else ""
            text = f"{self.label}: {count + ', ' if count else ''}{_fmt_time(elapsed)} elapsed"
        else:
            pct = 100.0 * self.n / self.total if self.total else 100.0
            text = f"{self.label}: {self.n}/{self.total} {self.unit} ({pct:.0f}%), {_fmt_time(elapsed)} elapsed"
            if not final and 0 < self.n < self.total:
                text += f", about {_fmt_time(elapsed / self.n * (self.total - self.n))} left"
        if self.postfix:
            text += f", {self.postfix}"
        if final:
            text += ", done"
        self._lines += 1
        print(text, file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


bar = Progress
"""``bar(total, label, unit=..., file=..., initial=..., disable=..., position=..., leave=...)``: the
name the loops use for a :class:`Progress` of known length."""


class activity:
    """``with activity("bench net dncnn-b"):`` -- elapsed time while opaque work runs.

    A daemon thread refreshes the display once a second; nothing counts steps.
    """

    def __init__(self, label: str, file: TextIO | None = None, disable: bool = False) -> None:
        self.progress = Progress(None, label, unit="", file=file, disable=disable)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.progress.tick()

    def __enter__(self) -> Progress:
        if not self.progress.disabled:
            self._thread = threading.Thread(target=self._run, name="imgrestore-progress", daemon=True)
            self._thread.start()
        return self.progress

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.progress.close()


# --------------------------------------------------------------------------------------------
# the first-run kernel compile

_noticed = False


def numba_cache_dirs(module_file: Path) -> list[Path]:
    """Where Numba keeps `cache=True` files for `module_file`: ``$NUMBA_CACHE_DIR`` when set (then
    only there), else beside it (``__pycache__``) or, when that is not writable, the user-wide cache."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return [Path(env)]
    return [module_file.parent / "__pycache__",
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "numba"]


def kernel_cache_cold(module_file: Path | str) -> bool:
    """True when no Numba cache index exists for `module_file` under this Python (a first run).

    Cheap: one glob in ``__pycache__``; a cache folder elsewhere is searched only when that misses.
    """
    module_file = Path(module_file)
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    pattern = f"{module_file.stem}.*.{tag}.nbi"
    for d in numba_cache_dirs(module_file):
        if not d.is_dir():
            continue
        hits = d.glob(pattern) if d.name == "__pycache__" else d.rglob(pattern)
        if next(iter(hits), None) is not None:
            return False
    return True


def kernel_notice(module_file: Path | str, file: TextIO | None = None) -> bool:
    """Print the compile line once per process when `module_file`'s kernel cache is cold; returns
    whether it printed."""
    global _noticed
    if _noticed or not enabled() or not kernel_cache_cold(module_file):
        return False
    _noticed = True
    print(COMPILE_LINE, file=_stream(file), flush=True)
    return True


class _KernelImportWatch:
    """A meta-path finder that only looks: before a Numba kernel module (``imgrestore.kernels.*_numba``)
    is imported -- which precedes its first compile -- it calls :func:`kernel_notice`. It never finds
    or loads anything itself."""

    prefix = "imgrestore.kernels."

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if _noticed or not fullname.startswith(self.prefix) or not fullname.endswith("_numba"):
            return None
        for folder in path or ():
            f = Path(folder) / (fullname.rsplit(".", 1)[1] + ".py")
            if f.is_file():
                kernel_notice(f)
                break
        return None

    def invalidate_caches(self) -> None:  # the finder protocol
        pass


def watch_kernel_imports() -> None:
    """Install the finder of :class:`_KernelImportWatch` once (idempotent; costs nothing per import)."""
    if not any(isinstance(f, _KernelImportWatch) for f in sys.meta_path):
        sys.meta_path.insert(0, _KernelImportWatch())
