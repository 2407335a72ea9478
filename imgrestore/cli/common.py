"""Options and helpers shared by the commands."""

from __future__ import annotations

import click

from imgrestore.backend import DEVICE_CHOICES


def device_option(f):
    """``--device cpu|cuda|auto``: where arrays live (auto = GPU when CuPy sees one)."""
    return click.option(
        "--device",
        type=click.Choice(DEVICE_CHOICES, case_sensitive=False),
        default="auto",
        show_default=True,
        help="Compute device: cpu, cuda, or auto (GPU when CuPy and a GPU are present).",
    )(f)


def resolve(device: str) -> str:
    from imgrestore.backend import resolve_device

    return resolve_device(device)
