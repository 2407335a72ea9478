"""Errors a user can fix: the CLI prints them as one line, never as a traceback."""

from __future__ import annotations

from typing import Iterable


class UserError(Exception):
    """Bad input from the user (option, value, file); the message names it and what was expected."""


class SpecError(UserError):
    """A degradation chain spec or parameter that cannot be understood."""


class DeviceError(UserError):
    """A device was asked for that this machine does not have."""


class ImageReadError(UserError):
    """An image file that cannot be decoded."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """The hint ``" (did you mean 'x'?)"`` naming the closest of `choices` to `name` (difflib's
    default cutoff), or ``""`` when none is close: the one wording every "no such ..." message uses."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
