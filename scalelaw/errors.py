"""Exceptions that carry a one-line message meant for the user."""


class InputError(ValueError):
    """Bad input data or arguments: the message names the file, column or value and what is expected."""
