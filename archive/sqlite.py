"""sqlite-utils, imported once for the whole package, without numpy and pandas."""

from __future__ import annotations


def _import_sqlite_utils():
    """sqlite-utils, imported without numpy and pandas.

    sqlite-utils imports both, when installed, only to map their scalar types on insert; ccnews
    never inserts them, and numpy alone costs about 100 ms at the start of every command (a third
    of a `ccnews search`). An entry of None in sys.modules makes that optional import fail as if
    the package were absent; it is removed at once, so numpy imports normally later (timeline).
    """
    import sys

    blocked = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import sqlite_utils
    finally:
        for name in blocked:
            if sys.modules.get(name) is None:
                del sys.modules[name]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

from sqlite_utils.migrations import Migrations  # noqa: E402 - after sqlite-utils itself

__all__ = ["Migrations", "sqlite_utils"]
