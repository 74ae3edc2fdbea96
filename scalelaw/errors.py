"""Exceptions that carry a one-line message meant for the user."""


class InputError(ValueError):
    """Bad input data or arguments: the message names the file, column or value and what is expected."""


class NotAResult(RuntimeError):
    """A computation that ran but whose outcome is not a result (a training run that diverged):
    the message says what happened and what was kept. The command line exits with 3."""
