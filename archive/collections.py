"""Named sets of articles, saved with the query that made them (tables `collections` and
`collection_articles`, defined in archive/schema.py, readable with sqlite-utils and Datasette)."""

from __future__ import annotations

import json
from typing import Any

from archive.db import Archive, ArchiveError, now_iso


def get(archive: Archive, name: str) -> dict[str, Any]:
    rows = list(archive.db.query("select * from collections where name = ?", [name]))
    if not rows:
        raise ArchiveError(f"no collection named {name!r} (see `ccnews collection list`)")
    row = rows[0]
    row["filters"] = json.loads(row["filters"] or "{}")
    return row


def create(archive: Archive, name: str, query: str | None, filters: dict[str, Any], description: str | None) -> int:
    if not name.strip():
        raise ArchiveError("a collection needs a name")
    if list(archive.db.query("select id from collections where name = ?", [name])):
        raise ArchiveError(f"a collection named {name!r} exists already (use `ccnews collection refresh {name}`)")
    stamp = now_iso()
    with archive.transaction():
        return (
            archive.db["collections"]
            .insert(
                {
                    "name": name,
                    "description": description,
                    "query": query,
                    "filters": json.dumps(filters, ensure_ascii=False),
                    "created": stamp,
                    "updated": stamp,
                }
            )
            .last_pk
        )


def add(archive: Archive, name: str, article_ids: list[int], how: str = "manual") -> int:
    """Add articles; a manual add also brings back one removed before. Returns how many are new."""
    coll = get(archive, name)
    stamp = now_iso()
    added = 0
    with archive.transaction():
        for aid in article_ids:
            row = archive.db.execute(
                "select removed from collection_articles where collection_id = ? and article_id = ?", [coll["id"], aid]
            ).fetchone()
            if row is None:
                archive.db["collection_articles"].insert(
                    {"collection_id": coll["id"], "article_id": aid, "added": stamp, "how": how, "removed": 0})
                added += 1
            elif row[0] and how == "manual":
                archive.db.execute("update collection_articles set removed = 0, added = ?, how = 'manual' "
                                   "where collection_id = ? and article_id = ?", [stamp, coll["id"], aid])
                added += 1
        archive.db["collections"].update(coll["id"], {"updated": stamp})
    return added


def remove(archive: Archive, name: str, article_ids: list[int]) -> int:
    coll = get(archive, name)
    with archive.transaction():
        cur = archive.db.execute(
            f"update collection_articles set removed = 1 where collection_id = ? and removed = 0 "
            f"and article_id in ({','.join('?' * len(article_ids))})", [coll["id"], *article_ids])
        archive.db["collections"].update(coll["id"], {"updated": now_iso()})
    return cur.rowcount


def delete(archive: Archive, name: str) -> None:
    coll = get(archive, name)
    with archive.transaction():
        archive.db.execute("delete from collection_articles where collection_id = ?", [coll["id"]])
        archive.db.execute("delete from collections where id = ?", [coll["id"]])


def article_ids(archive: Archive, name: str) -> list[int]:
    coll = get(archive, name)
    return [r["article_id"] for r in archive.db.query(
        "select ca.article_id from collection_articles ca join articles a on a.id = ca.article_id "
        "where ca.collection_id = ? and ca.removed = 0 order by datetime(a.published) desc", [coll["id"]])]


def listing(archive: Archive) -> list[dict[str, Any]]:
    return list(archive.db.query(
        "select c.name, c.description, c.query, c.updated, "
        "(select count(*) from collection_articles ca where ca.collection_id = c.id and ca.removed = 0) as articles "
        "from collections c order by c.name"))
