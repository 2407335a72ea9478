"""Errors a user can fix: the CLI prints them as one line, never as a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (option, value, file); the message names it and what was expected."""


class SpecError(UserError):
    """A degradation chain spec or parameter that cannot be understood."""


class DeviceError(UserError):
    """A device was asked for that this machine does not have."""


class ImageReadError(UserError):
    """An image file that cannot be decoded."""
