"""Errors the CLI reports in one line on standard error, without a traceback."""


class CliError(Exception):
    """A failure to report as ``tenant-registry: <message>`` with exit status 1."""
