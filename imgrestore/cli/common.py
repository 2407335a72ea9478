"""Options and helpers shared by the commands."""

from __future__ import annotations

import click

from imgrestore.backend import DEVICE_CHOICES


DEVICE_ENV = "IMGRESTORE_DEVICE"
"""Default of every ``--device`` option when set (``imgrestore run --device`` sets it for its steps)."""


def default_device() -> str:
    import os

    value = os.environ.get(DEVICE_ENV, "").strip().lower()
    return value if value in DEVICE_CHOICES else "auto"


def device_option(f):
    """``--device cpu|cuda|auto``: where arrays live (auto = GPU when CuPy sees one)."""
    return click.option(
        "--device",
        type=click.Choice(DEVICE_CHOICES, case_sensitive=False),
        default=default_device,
        show_default=f"auto, or ${DEVICE_ENV}",
        help="Compute device: cpu, cuda, or auto (GPU when CuPy and a GPU are present).",
    )(f)


class OutPath(click.Path):
    """``click.Path`` for outputs: refuses ``""``, which ``Path("")`` would turn into the current folder."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail(f"{value!r}: empty path; name the {'folder' if not self.file_okay else 'file'} to write",
                      param, ctx)
        return super().convert(value, param, ctx)


def resolve(device: str) -> str:
    from imgrestore.backend import resolve_device

    return resolve_device(device)


def crf_file_option(f):
    """``--crf-file PATH``: the DoRF camera-response file for stages that use one (cbdnet).

    Sets ``$IMGRESTORE_CRF`` for this process, before the chain is built.
    """

    def use(ctx, param, value):
        if value:
            import os

            from imgrestore.crf import ENV

            os.environ[ENV] = str(value)
        return value

    return click.option(
        "--crf-file",
        type=click.Path(dir_okay=False),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=use,
        help="DoRF dorfCurves.txt for the cbdnet degradation (default: $IMGRESTORE_CRF, else a built-in family).",
    )(f)
