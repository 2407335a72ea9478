"""Entry point of the ``imgrestore`` command.

Built-in commands are imported only when run, and plugin commands are looked up only when a
name is not built in (or for ``--help``), so ``imgrestore --help`` starts at once.
"""

from __future__ import annotations

import importlib
import sys

import click

from imgrestore import __version__

BUILTIN = {
    "synth": ("imgrestore.cli.synth", "synth", "Write degraded/clean training pairs from a degradation chain."),
    "plugins": ("imgrestore.cli.plugins", "plugins", "List plugins and what each provides."),
    "bench": ("imgrestore.cli.bench", "bench", "Time degradations against peers and the hardware limit."),
    "import-weights": ("imgrestore.cli.import_weights", "import_weights",
                       "Convert released weights (DnCNN .mat/.pth) into a safetensors checkpoint."),
    "restore": ("imgrestore.cli.restore", "restore", "Restore images of any size with a network (tiled, self-ensemble)."),
    "eval": ("imgrestore.cli.eval", "eval_", "Degrade, restore and score clean images: PSNR/SSIM per image and mean."),
    "fit": ("imgrestore.cli.fit", "fit", "Train a network: stage 1 on synthetic pairs, surrogate/GAN stages, transfer."),
    "run": ("imgrestore.cli.run", "run", "Run an experiment file: synth -> fit stages -> eval -> bench, skipping finished steps."),
    "models": ("imgrestore.cli.models", "models", "List the pretrained models (--model NAME) or show one's model card."),
}


class LazyGroup(click.Group):
    """A click group that imports built-in commands on use and adds plugin commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(BUILTIN) | set(_plugin_commands()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in BUILTIN:
            module, attr, _ = BUILTIN[name]
            return getattr(importlib.import_module(module), attr)
        return _plugin_commands().get(name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """As click's, plus a did-you-mean for a mistyped command name."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            import difflib

            name = args[0] if args else ""
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6) if name else []
            if close and "did you mean" not in exc.message.lower():
                exc.message = f"{exc.message.rstrip('.')}. (Did you mean {' or '.join(repr(c) for c in close)}?)"
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, BUILTIN[name][2]) for name in sorted(BUILTIN)]
        rows += [(n, c.get_short_help_str(60)) for n, c in sorted(_plugin_commands().items()) if n not in BUILTIN]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _plugin_commands() -> dict[str, click.Command]:
    from imgrestore.registry import get_registry

    return get_registry().commands


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imgrestore")
def cli() -> None:
    """imgrestore: degradation models, restoration networks and benchmarks, as plugins.

    \b
    Try:
      imgrestore synth bicubic --out pairs/
      imgrestore synth "bicubic:scale=4 | awgn:sigma=0-55 | jpeg:quality=30-95" --out pairs/
      imgrestore plugins
      imgrestore bench degrade bicubic
    """


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"imgrestore: warning: {message}", err=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def usage_line(exc: click.ClickException) -> str:
    """A click error (bad option value, unknown option or command, missing argument) as the
    one line every imgrestore error is: the message, click's did-you-mean kept, and where to
    read the command's options."""
    msg = _one_line(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        msg += f" (see '{ctx.command_path} --help')"
    return msg


# what a full disk, a read-only or foreign folder look like when no earlier check could see them
_DISK_ERRNOS = ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EFBIG")


def os_error_line(exc: OSError) -> str | None:
    """``PATH: No space left on device`` for the errors a user fixes on their side, else None."""
    import errno

    codes = {getattr(errno, n) for n in _DISK_ERRNOS if hasattr(errno, n)}
    if exc.errno not in codes:
        return None
    where = exc.filename if exc.filename is not None else "output"
    return f"{where}: {exc.strerror or exc}"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a UserError (or a click usage error, or a full/read-only disk) becomes one
    line ``imgrestore: error: ...`` on stderr and exit status 2."""
    import warnings

    from imgrestore.errors import UserError

    warnings.showwarning = _warning_line  # one line per warning, no source excerpt

    try:
        cli.main(args=argv, prog_name="imgrestore", standalone_mode=False)
    except UserError as exc:
        click.echo(f"imgrestore: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("imgrestore: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"imgrestore: error: {usage_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        line = os_error_line(exc)
        if line is None:
            raise
        click.echo(f"imgrestore: error: {line}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
