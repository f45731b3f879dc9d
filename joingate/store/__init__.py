"""Storage backends behind one interface (`base.Store`), chosen by `store.url`."""

from __future__ import annotations

from ..errors import InvalidInput
from .base import Store
from .sqlite import SqliteStore

__all__ = ["SqliteStore", "Store", "open_store"]


def open_store(url: str) -> Store:
    """A store for `url`: sqlite:///relative.db, sqlite:////absolute.db, postgresql://..."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path:
            raise InvalidInput("store.url: sqlite:/// needs a file name", field="store.url")
        return SqliteStore(path, url)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore  # asyncpg is only needed for PostgreSQL

        return PostgresStore(url)
    raise InvalidInput(f"store.url: unsupported store {url.split(':', 1)[0]!r}; "
                       "use sqlite:///FILE or postgresql://USER@HOST/DB", field="store.url")
