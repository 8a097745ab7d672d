"""Subcommands of the ``riskwarn`` CLI, one module each (imported lazily by ``riskwarn.cli``)."""
