"""``imgrestore synth NAME-or-SPEC``: write input/target training pairs and a JSONL manifest."""

from __future__ import annotations

from pathlib import Path

import click

from imgrestore.cli.common import OutPath, crf_file_option, device_option, resolve


@click.command("synth")
@click.argument("spec", metavar="NAME-or-SPEC")
@click.option("--input", "input_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of clean images (searched recursively). Default: scikit-image's sample images, or "
                   "screens rendered in code (text, windows, UI) for chains that photograph a screen (moire).")
@click.option("--out", type=OutPath(file_okay=False, path_type=Path), required=True, help="Output folder (created; a rerun resumes).")
@click.option("--patch", type=int, default=128, show_default=True, help="Target patch size in pixels.")
@click.option("--count", type=int, default=100, show_default=True, help="Number of pairs in the whole run.")
@click.option("--seed", type=int, default=0, show_default=True, help="Run seed; pair i depends only on (seed, i).")
@click.option("--shard", default="0/1", show_default=True, help="I/N: write only pairs with index % N == I.")
@click.option("--bits", type=click.Choice(["8", "16"]), default="8", show_default=True, help="PNG bit depth.")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True,
              help="Grayscale (1) or RGB (3) pairs; sources are converted.")
@click.option("--batch", type=int, default=16, show_default=True, help="Pairs degraded together (speed only).")
@click.option("--save-side", is_flag=True, help="Also save side outputs (e.g. noise sigma maps) as .npy.")
@click.option("--workers", type=int, default=4, show_default=True, help="Threads encoding PNG files.")
@click.option("--pool", type=int, default=None,
              help="Render N screens whole, once, and crop every pair from them where the chain runs (uint8, "
                   "6.2 MB per 1080x1920 screen; pair i takes screen k < N). Default: 256 with --device cuda; "
                   "on the CPU windows are rendered per crop from 1,024 screens. Only for rendered screens.")
@crf_file_option
@device_option
def synth(spec, input_dir, out, patch, count, seed, shard, bits, channels, batch, save_side, workers, pool,
          device) -> None:
    """Write degraded/clean training pairs from a degradation chain.

    NAME-or-SPEC is a degradation name (bicubic), a chain
    ("bicubic:scale=4 | awgn:sigma=0-55 | jpeg:quality=30-95") or a .toml chain file.
    Running the same command again resumes: finished pairs are kept, none is duplicated.
    """
    from imgrestore.chain import Chain
    from imgrestore.errors import UserError
    from imgrestore.io import check_out_folder
    from imgrestore.sources.pool import check_pool_size, require_large_enough, screen_pool_size
    from imgrestore.sources.source import SCREEN_COUNT, builtin_sources, scan_sources, screen_sources
    from imgrestore.synth import SynthConfig, chain_content, parse_shard, synthesize

    dev = resolve(device)
    for opt, val, lo in (("--patch", patch, 8), ("--batch", batch, 1), ("--seed", seed, 0)):
        if val < lo:
            raise UserError(f"{opt} {val}: expected an integer >= {lo}")
    check_pool_size(pool)
    check_out_folder(out)  # before sources are scanned or screens rendered
    chain = Chain.load(spec)
    screens = input_dir is None and chain_content(chain) == "screens"
    pool = screen_pool_size(pool, screens, dev == "cuda", "--input")
    cfg = SynthConfig(chain=chain, out=out, patch=patch, count=count, seed=seed, device=dev,
                      shard=parse_shard(shard), bits=int(bits), channels=int(channels), batch=batch,
                      save_side=save_side, workers=workers, pool=pool)
    need = chain.source_size((patch, patch))
    from imgrestore.preflight import ready

    ready()  # the checks end here (imgrestore run checks every step up to this point before it starts)
    if input_dir is None:
        if screens:
            sources = screen_sources(seed, need, pool or SCREEN_COUNT)
        else:
            builtin = builtin_sources()
            require_large_enough(builtin, need, f"--patch {patch}: built-in samples")
            sources = [s for s in builtin if s.hw[0] >= need[0] and s.hw[1] >= need[1]]
    else:
        if not input_dir.is_dir():
            raise UserError(f"--input {input_dir}: not a folder")
        sources = scan_sources(input_dir, need, warn=lambda m: click.echo(m, err=True))

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:  # labelled by the stage names: the expanded spec can run to hundreds of characters
            from imgrestore.progress import bar as progress_bar

            bar = progress_bar(total, "synth " + " | ".join(s.name for s in chain.stages), unit="pairs", initial=done)
        else:
            bar.update(done - bar.n)

    try:
        res = synthesize(cfg, sources, progress=progress, warn=lambda m: click.echo(m, err=True))
    finally:
        if bar is not None:
            bar.close()
    msg = f"wrote {res.written} pairs to {out}"
    if res.resumed:
        msg += f" ({res.resumed} already there from an earlier run)"
    if res.skipped:
        msg += f"; skipped unreadable sources: {', '.join(sorted(set(res.skipped)))}"
    click.echo(msg, err=True)
    if res.manifest:
        click.echo(f"manifest: {res.manifest}", err=True)
    else:
        click.echo(f"manifest: written when all {cfg.shard[1]} shards have finished", err=True)
