"""Collections: running their saved queries against the index and keeping the matches."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from archive import Archive, ArchiveError
from archive import collections as store
from indexer import Filters, matching_ids


def filters_to_dict(filters: Filters) -> dict[str, Any]:
    out = {}
    for key, value in asdict(filters).items():
        if isinstance(value, datetime):
            value = value.isoformat()
        if isinstance(value, tuple):
            value = list(value)
        if value not in (None, [], ()):
            out[key] = value
    return out


def filters_from_dict(data: dict[str, Any]) -> Filters:
    kwargs = dict(data)
    for key in ("since", "until"):
        if kwargs.get(key):
            kwargs[key] = datetime.fromisoformat(kwargs[key])
    for key in ("sources", "cities", "fields"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return Filters(**kwargs)


def create(archive: Archive, data_dir: Path, name: str, query: str, filters: Filters, description: str | None) -> int:
    """Save the collection and fill it with what its query matches now; returns the count."""
    store.create(archive, name, query, filters_to_dict(filters), description)
    return refresh(archive, data_dir, name)


def refresh(archive: Archive, data_dir: Path, name: str) -> int:
    """Run the saved query again and add new matches (removed articles stay out)."""
    coll = store.get(archive, name)
    if coll["query"] is None:
        return 0
    ids = matching_ids(data_dir, coll["query"], filters_from_dict(coll["filters"]), ordered=False)
    return store.add(archive, name, ids, how="query")


def resolve(archive: Archive, refs: list[str]) -> list[int]:
    """Article ids from ids or URLs."""
    ids = []
    for ref in refs:
        if ref.isdigit():
            if not archive.get_articles([int(ref)]):
                raise ArchiveError(f"no article with id {ref}")
            ids.append(int(ref))
        else:
            found = archive.lookup_url(ref)
            if not found:
                raise ArchiveError(f"no archived article at {ref}")
            ids.append(found["id"])
    return ids
