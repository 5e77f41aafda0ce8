"""Encryption at rest in the shell: the passphrase of `remlite init --encrypt` and
`remlite key rotate-passphrase`.

A passphrase comes from REMLITE_PASSPHRASE (read by `remlite.settings`) or a hidden prompt; it is
never echoed, printed or put in an error message.
"""

import typer

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption


def current_passphrase(prompt: str = "Passphrase") -> str:
    """REMLITE_PASSPHRASE, else asked for (hidden)."""
    from remlite.settings import Settings

    return Settings.from_env().passphrase or str(typer.prompt(prompt, hide_input=True, err=True))


def new_passphrase(prompt: str = "New passphrase") -> str:
    """REMLITE_PASSPHRASE, else asked for twice (hidden, with confirmation)."""
    from remlite.settings import Settings

    return Settings.from_env().passphrase or str(
        typer.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True)
    )


def rotate_passphrase(
    path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False
) -> None:
    """Change an encrypted database's passphrase: the data key is re-wrapped, nothing else rewritten.
    The current passphrase comes from REMLITE_PASSPHRASE or a prompt; the new one from a prompt (twice)."""
    from remlite.database import connect

    old = current_passphrase("Current passphrase")
    new = str(typer.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True))
    with connect(path, tenant, create=False, passphrase=old) as db:
        db.rotate_passphrase(old, new)
        where = str(db.path)
    if as_json:
        output.emit_json({"path": where, "tenant": tenant, "rotated": True})
    else:
        output.say(f"passphrase of {where} changed (the data key was re-wrapped; nothing else was rewritten)")
