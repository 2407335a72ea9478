"""The runner's record, ``OUT/.experiment/state.json``: read it, and rewrite it atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imgrestore.errors import UserError
from imgrestore.experiment.model import STATE_DIR, STATE_FILE


def read_state(out: Path) -> dict[str, Any]:
    f = out / STATE_DIR / STATE_FILE
    if not f.is_file():
        return {"steps": {}}
    try:
        state = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{f}: unreadable experiment state ({exc}); delete it to run every step again") from None
    state.setdefault("steps", {})
    return state


def write_state(out: Path, state: dict[str, Any]) -> None:
    from imgrestore.io import write_bytes_atomic

    write_bytes_atomic(out / STATE_DIR / STATE_FILE, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())
