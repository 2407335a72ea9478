"""``imgrestore models``: the pretrained models ``--model NAME`` accepts, or one model's card."""

from __future__ import annotations

import json

import click


@click.command("models")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
def models(name: str | None, as_json: bool) -> None:
    """List the pretrained models (name, network, task, source, state here), or show NAME's card.

    \b
    Use one with:  imgrestore restore PHOTOS --model NAME --out DIR
                   imgrestore eval --model NAME --clean DIR --degrade ...
    Downloaded models are cached in $IMGRESTORE_CACHE (default ~/.cache/imgrestore/models).
    """
    from imgrestore.zoo.cache import cache_dir
    from imgrestore.zoo.card import card_text
    from imgrestore.zoo.catalog import all_models, get_model, state

    if name is not None:
        click.echo(card_text(get_model(name, "models")), nl=False)
        return
    entries = list(all_models().values())
    if as_json:
        rows = [{"name": m.name, "network": m.network, "task": m.task, "color": m.color, "summary": m.summary,
                 "source": m.origin, "state": state(m)} for m in entries]
        click.echo(json.dumps({"cache": str(cache_dir() / "models"), "models": rows}, indent=1))
        return
    rows = [(m.name, m.network, f"{m.task}, {m.color}", _where(m), state(m)) for m in entries]
    head = ("NAME", "NETWORK", "TASK", "FROM", "HERE")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    click.echo(f"cache: {cache_dir() / 'models'}; 'imgrestore models NAME' shows a model's card")


def _where(m) -> str:
    """The source, short: 'packaged' or the URL's host and repository."""
    from urllib.parse import urlsplit

    if m.origin == "packaged":
        return "packaged"
    u = urlsplit(m.origin)
    parts = [p for p in u.path.split("/") if p]
    return f"{u.netloc}/{'/'.join(parts[:2])}" if u.netloc == "github.com" else u.netloc
