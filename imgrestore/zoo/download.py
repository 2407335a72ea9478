"""Fetch one file over HTTP(S) into the cache: temporary file, SHA-256 check, then rename.

Plain urllib (no extra dependency): nothing of a download is ever left under the final name
unless its size and SHA-256 are the pinned ones; a cut-off or failed transfer removes its
temporary file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from imgrestore.errors import UserError

CHUNK = 1 << 16
TIMEOUT_S = 30.0


class DownloadError(UserError):
    """A model file could not be fetched or did not match its pinned SHA-256."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _progress(total: int, label: str):
    """A tqdm bar on stderr when tqdm is installed (hidden when stderr is not a terminal),
    else None; the caller always prints one line first."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr,
                disable=None, leave=False)


def download(url: str, dest: Path, sha256: str, size: int, what: str, timeout: float = TIMEOUT_S,
             quiet: bool = False) -> Path:
    """Download `url` to `dest` (atomically) and check its size and SHA-256.

    `what` starts every error message (e.g. ``--model dncnn-s-25``). Failures are one-line
    :class:`DownloadError` s; the offline one says where to put a hand-downloaded file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    offline = (f"download it elsewhere and save it as {dest} (SHA-256 {sha256}), or pass --weights "
               f"with a checkpoint")
    h = hashlib.sha256()
    got = 0
    try:
        try:
            resp = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "imgrestore"}),
                                          timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{what}: {url} answered HTTP {exc.code} {exc.reason}; {offline}") from None
        except (urllib.error.URLError, socket.timeout, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"{what}: cannot reach {url} ({' '.join(str(reason).split())}); "
                                f"{offline}") from None
        if not quiet:
            print(f"imgrestore: downloading {url} ({size / 1e6:.1f} MB) to {dest}", file=sys.stderr)
        bar = None if quiet else _progress(size, dest.name)
        try:
            with resp, open(tmp, "xb") as f:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    got += len(block)
                    if got > size:
                        raise DownloadError(f"{what}: {url} sent more than the expected {size} bytes; "
                                            f"nothing was saved; {offline}")
                    h.update(block)
                    f.write(block)
                    if bar is not None:
                        bar.update(len(block))
                f.flush()
                os.fsync(f.fileno())
        except DownloadError:
            raise
        except (OSError, ValueError, http.client.HTTPException) as exc:  # IncompleteRead, reset, timeout
            raise DownloadError(f"{what}: the download of {url} broke off after {got} of {size} bytes "
                                f"({type(exc).__name__}); nothing was saved; run again, or {offline}") from None
        finally:
            if bar is not None:
                bar.close()
        if got != size:
            raise DownloadError(f"{what}: the download of {url} stopped after {got} of {size} bytes; "
                                f"nothing was saved; run again, or {offline}")
        digest = h.hexdigest()
        if digest != sha256:
            raise DownloadError(f"{what}: {url} has SHA-256 {digest}, expected {sha256}; the download was "
                                f"deleted (the file at that URL is not the pinned one)")
        os.replace(tmp, dest)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return dest
