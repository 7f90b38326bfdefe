"""Errors the CLI reports as one clear line (no traceback)."""


class UserFacingError(Exception):
    """Base of errors caused by the user's input: bad paths, bad datasets, bad options."""
