"""A model's card (markdown): the packaged card file when there is one, else one made from the
entry's fields."""

from __future__ import annotations

from imgrestore.pretrained import CARDS_DIR, ModelEntry, Packaged, Remote
from imgrestore.zoo.catalog import state


def card_text(entry: ModelEntry) -> str:
    """The markdown card of `entry`, with a header saying where its weights are."""
    lines = [f"# {entry.name}", "", entry.summary, ""]
    body = entry.card
    card_file = CARDS_DIR / f"{entry.name}.md"
    if not body and isinstance(entry.source, Packaged) and card_file.is_file() and _ours(entry):
        body = card_file.read_text(encoding="utf-8")
    lines += [f"- network: `{entry.network}`" + (f" ({_config(entry.config)})" if entry.config else ""),
              f"- task: {entry.task}, {entry.color}",
              f"- state here: {state(entry)}"]
    src = entry.source
    if isinstance(src, Remote):
        from imgrestore.zoo.cache import cached_path

        lines += [f"- source: {src.url}", f"- SHA-256: `{src.sha256}`, {src.size:,} bytes, format `{src.format}`",
                  f"- cached as: {cached_path(entry)}"]
    else:
        lines += [f"- file: {src.path}"]
    for key in ("paper", "trained", "noise", "recipe", "license"):
        if key in entry.extra:
            lines.append(f"- {key}: {entry.extra[key]}")
    for key, value in entry.extra.get("scores", {}).items():
        lines.append(f"- measured here ('imgrestore eval', seed 0), {key}: {value}")
    if body:
        lines += ["", body.strip()]
    return "\n".join(lines) + "\n"


def _ours(entry: ModelEntry) -> bool:
    """Built-in packaged models keep their cards in CARDS_DIR (plugins pass ``card=``)."""
    from imgrestore.pretrained import BUILTIN_NAMES

    return entry.name in BUILTIN_NAMES


def _config(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())
