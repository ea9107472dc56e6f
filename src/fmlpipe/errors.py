"""Errors the CLI turns into one-line messages and exit codes."""


class FmlpipeError(Exception):
    """A failure the user can act on; the message is shown as one line, without traceback."""

    exit_code = 1


class ParamsError(FmlpipeError):
    """Bad params or bad usage: exit code 2, raised before any work starts."""

    exit_code = 2


class DataError(FmlpipeError):
    """Missing, corrupt or unusable input data: exit code 1."""
