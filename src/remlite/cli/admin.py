"""`remlite repair`: the commands that work on a database's files rather than through an open handle."""

from remlite.database import Database, default_root

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption


def repair(path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """Rebuild a damaged database (missing CURRENT, corrupt MANIFEST or table file) from its readable
    files; unreadable table files are moved to lost/. Copy the directory first; run `remlite check` after."""
    Database.repair(path, tenant)
    info = {"path": str((path if path is not None else default_root()) / tenant), "tenant": tenant, "repaired": True}
    if as_json:
        output.emit_json(info)
    else:
        output.say(f"repaired {info['path']}; run `remlite check --tenant {tenant}` to verify it")
