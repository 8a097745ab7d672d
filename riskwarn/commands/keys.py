"""``riskwarn keys init``: create the pseudonym key file (random, mode 0600)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def keys() -> None:
    """Secret keys riskwarn needs (see docs/security.md, key management)."""


@keys.command()
@click.option(
    "--pseudonym-key-file",
    "path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the key (keep it outside RISKWARN_HOME's data and its backups).",
)
def init(path: Path) -> None:
    """Write a random 256-bit pseudonym key to PATH (mode 0600); never overwrites a key."""
    from riskwarn.keys import create_key_file

    folder = path.parent
    if not folder.is_dir():  # a typo in the path must not silently create a new tree
        if not folder.parent.is_dir():
            raise click.ClickException(
                f"folder {folder.parent} does not exist: create it first, or fix the path; "
                "nothing written"
            )
        folder.mkdir(mode=0o700)  # one new folder, as mkdir would, and said
        click.echo(f"created folder {folder} (mode 0700)")
    try:
        create_key_file(path)
    except FileExistsError:
        raise click.ClickException(
            f"{path} exists: a pseudonym key is never overwritten (every pseudonym would "
            "change); remove it yourself if you really mean to start over"
        ) from None
    click.echo(f"wrote a new pseudonym key to {path} (mode 0600)")
    click.echo(f"use it with: export RISKWARN_PSEUDONYM_KEY_FILE={path.resolve()}")
