"""Seeing a run: the progress line, metrics as JSONL and CSV, TensorBoard when installed.

``RUN/metrics.jsonl`` holds one JSON object per row: ``{"kind": "train", "iter": t, "lr": ..,
"it_s": .., "<loss part>": ..}`` (means over the rows' iterations) and ``{"kind": "val", "iter":
t, "psnr": .., "ssim": .., "input_psnr": ..}`` (``input_psnr``: the inputs' own PSNR, the
baseline). ``train.csv`` and ``val.csv`` hold the same rows as tables. On resume, rows past the
checkpoint's iteration are dropped, so the files describe one history.

TensorBoard (``pip install imgrestore[tb]``; skipped without it) gets every numeric column as a
scalar (``train/<col>``, ``val/<col>``), the run settings as text and as hparams (linked to
``val/psnr``), and whatever ``on_val`` adds at each validation (the sample figure).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from imgrestore.errors import UserError
from imgrestore.io import write_bytes_atomic
from imgrestore.train.ddp import Dist


def write_failure(exc: OSError) -> str:
    """Why a write failed, in words ("the disk is full" for ENOSPC/EDQUOT)."""
    return "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))


def cannot_write(path: Path, exc: OSError) -> UserError:
    return UserError(f"cannot write {path}: {write_failure(exc)}; nothing written earlier was lost; free space and "
                     "rerun with --resume")


def write_file(path: Path, data: bytes) -> None:
    """:func:`imgrestore.io.write_bytes_atomic`, with a full disk (any OSError) as a one-line UserError."""
    try:
        write_bytes_atomic(path, data)
    except OSError as exc:
        raise cannot_write(path, exc) from None


def say(msg: str, dist: Dist | None = None) -> None:
    """`msg` on stderr, from the main rank only (every rank when `dist` is None)."""
    if dist is None or dist.main:
        print(msg, file=sys.stderr, flush=True)


def _fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


class Progress:
    """One status line on stderr: iteration, it/s, losses, ETA. A tqdm bar on a terminal; otherwise
    (logs, CI) separate lines: the first read-back (every `every` iterations), then one every
    ``IMGRESTORE_PROGRESS_EVERY`` seconds (default 5, as every command's progress), and the last."""

    def __init__(self, total: int, start: int = 0, prefix: str = "fit", stream: TextIO | None = None,
                 interval: float = 0.5, every: int = 100, enabled: bool = True) -> None:
        self.total, self.start, self.prefix = total, start, prefix
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval, self.every, self.enabled = interval, max(1, every), enabled
        from imgrestore.progress import line_period

        self.period = line_period()
        self.lines = 0
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.width = 0
        self.bar = None
        if self.enabled and self.tty:  # a terminal: the tqdm bar every command uses (imgrestore.progress)
            from imgrestore.progress import bar

            self.bar = bar(total, prefix, unit="it", file=self.stream, initial=start)

    def line(self, it: int, losses: dict[str, float]) -> str:
        dt = time.perf_counter() - self.t0
        rate = (it - self.start) / dt if dt > 0 else 0.0
        eta = (self.total - it) / rate if rate > 0 else math.inf
        parts = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
        return f"{self.prefix} {it}/{self.total}  {rate:.2f} it/s  {parts}  ETA {_fmt_time(eta)}"

    def update(self, it: int, losses: dict[str, float]) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.bar is not None and self.bar._tqdm is not None:
            self.bar.set_postfix(" ".join(f"{k} {v:.4g}" for k, v in losses.items()))
            self.bar.update(it - self.bar.n)
            return
        if self.tty:
            if now - self.last < self.interval and it < self.total:
                return
            text = self.line(it, losses)
            self.stream.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:  # logs, CI: a line at the first read-back, then every few seconds, and at the end
            first = it % self.every == 0 and not self.lines  # the first losses read back
            if it < self.total and not first and now - (self.last if self.lines else self.t0) < self.period:
                return
            self.lines += 1
            self.stream.write(self.line(it, losses) + "\n")
        self.last = now
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own (validation scores, checkpoints) without breaking the status line."""
        if not self.enabled:
            return
        if self.bar is not None and self.bar._tqdm is not None:
            self.bar.write(text)
            return
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            return
        if self.enabled and self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()


class MetricsLog:
    """Appends rows to RUN/metrics.jsonl and rewrites RUN/train.csv, val.csv; mirrors them to
    TensorBoard (RUN/tb) when ``torch.utils.tensorboard`` can be imported."""

    def __init__(self, folder: Path, resume_at: int | None = None, tensorboard: bool = True,
                 writer: Any = None) -> None:
        self.folder = Path(folder)
        self.on_val: Any = None  # called as on_val(row, tb) after each validation row is written
        self.path = self.folder / "metrics.jsonl"
        self.rows: list[dict[str, Any]] = []
        self._cols: dict[str, list[str]] = {}
        if self.path.exists() and resume_at is not None:
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill
                if row.get("iter", 0) <= resume_at:
                    self.rows.append(row)
        self._rewrite()
        self.tb = writer
        if tensorboard and writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
            except Exception:
                self.tb = None
            else:
                self.tb = SummaryWriter(str(self.folder / "tb"), purge_step=resume_at)

    def _rewrite(self) -> None:
        write_file(self.path, "".join(json.dumps(r) + "\n" for r in self.rows).encode())
        self._write_csv()

    def _columns(self, kind: str) -> list[str]:
        cols: list[str] = []
        for r in self.rows:
            if r.get("kind") == kind:
                cols += [k for k in r if k != "kind" and k not in cols]
        return cols

    def _write_csv(self, kinds: tuple[str, ...] = ("train", "val")) -> None:
        """Rewrite the tables of `kinds` whole (atomically): at start, on resume, or when a row
        brings a new column."""
        for kind in kinds:
            rows = [r for r in self.rows if r.get("kind") == kind]
            self._cols[kind] = cols = self._columns(kind)
            if not rows:
                continue
            buf = io.StringIO()
            w = csv.DictWriter(buf, cols, lineterminator="\n", extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
            write_file(self.folder / f"{kind}.csv", buf.getvalue().encode())

    def _append(self, path: Path, text: str) -> None:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise cannot_write(path, exc) from None

    def add(self, row: dict[str, Any]) -> None:
        """Append `row`; the CSV gets one more line (O(1) per row over a long run) unless the
        row brings a column the table lacks, which rewrites that table."""
        self.rows.append(row)
        self._append(self.path, json.dumps(row) + "\n")
        kind = row.get("kind")
        if kind in ("train", "val"):
            cols = self._cols.get(kind, [])
            table = self.folder / f"{kind}.csv"
            if cols and table.exists() and all(k == "kind" or k in cols for k in row):
                buf = io.StringIO()
                csv.DictWriter(buf, cols, lineterminator="\n", extrasaction="ignore").writerow(row)
                self._append(table, buf.getvalue())
            else:
                self._write_csv((kind,))
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("kind", "iter") and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{row['kind']}/{k}", v, row["iter"])
        if kind == "val" and self.on_val is not None:
            self.on_val(row, self.tb)

    def describe(self, settings: dict[str, Any], metric: str = "val/psnr") -> None:
        """The run settings to TensorBoard: as a JSON text block and as hparams (scalars as they
        are, anything else as text), linked to the `metric` scalar."""
        if self.tb is None:
            return
        self.tb.add_text("run/settings", "```\n" + json.dumps(settings, indent=1, default=str) + "\n```", 0)
        hp = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v, default=str)
              for k, v in settings.items()}
        try:
            from torch.utils.tensorboard.summary import hparams
        except Exception:
            return
        exp, ssi, sei = hparams(hp, {metric: float("nan")})
        writer = self.tb._get_file_writer() if hasattr(self.tb, "_get_file_writer") else self.tb.file_writer
        for summary in (exp, ssi, sei):
            writer.add_summary(summary)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
