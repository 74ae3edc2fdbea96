"""Exceptions that carry a one-line message meant for the user, and the command line's exit codes."""

EXIT_INPUT, EXIT_NOT_CONVERGED, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 3, 130, 143


class InputError(ValueError):
    """Bad input data or arguments: the message names the file, column or value and what is expected."""


class NotAResult(RuntimeError):
    """A computation that ran but whose outcome is not a result (a training run that diverged):
    the message says what happened and what was kept. The command line exits with 3."""
