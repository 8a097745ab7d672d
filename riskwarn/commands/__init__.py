"""Subcommands of the ``riskwarn`` CLI, one module each (imported lazily by ``riskwarn.cli``)."""


class ExitStatus(Exception):
    """End a command with ``code`` after its output is printed (``riskwarn.cli.main``
    returns it); for outcomes a script must tell apart from success and from an error,
    such as ``riskwarn ingest``'s 3 (a file that stored nothing)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code
