"""Syndicated copies: the same story republished by another outlet, lightly edited or not.

Each article gets a MinHash (datasketch) of its word 5-grams. LSH bands of the signature are kept in
the archive (`fingerprint_bands`), so candidates are found by an indexed join rather than an
in-memory structure rebuilt each run; candidates whose estimated Jaccard similarity reaches
`THRESHOLD` join one group. A group's id is the id of its earliest article (the original).
Two outlets' own reports of one event share names and facts but few 5-word runs, so they stay apart.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from archive.cpu import stage
from archive.db import Archive

if TYPE_CHECKING:
    from datasketch import MinHash

# numpy and datasketch (which pulls in scipy) are imported where hashes are computed: listing a
# search hit's copies must not cost a second of imports.

NUM_PERM = 128
BANDS, ROWS = 42, 3  # a pair at Jaccard 0.5 is a candidate 99.6% of the time; THRESHOLD decides
THRESHOLD = 0.5
MAX_CANDIDATES = 20
PER_BAND = 200
SHINGLE = 5
SEED = 7
SCHEME = "affine32"  # datasketch 2.x's default hashing; stated so stored signatures stay comparable


def shingles(text: str) -> set[bytes]:
    words = re.findall(r"\w+", text.lower())
    if len(words) < SHINGLE:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


def signature(text: str) -> MinHash | None:
    grams = shingles(text or "")
    if len(grams) < 3:
        return None
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    m.update_batch(list(grams))
    return m


def _bands(m: MinHash) -> list[tuple[int, str]]:
    import numpy as np

    values = m.hashvalues.astype(np.uint64)
    return [
        (b, hashlib.blake2b(values[b * ROWS : (b + 1) * ROWS].tobytes(), digest_size=8).hexdigest())
        for b in range(BANDS)
    ]


def group_copies(archive: Archive, ids: Iterable[int] | None = None) -> int:
    """Fingerprint articles that are new or changed and group them with their copies.

    Returns how many articles changed group.
    """
    db = archive.db
    todo = [
        r["id"] for r in db.query(
            "select a.id from articles a left join fingerprints f on f.article_id = a.id "
            "where f.article_id is null or f.content_hash != a.content_hash"
        )
    ]
    if ids is not None:
        wanted = set(ids)
        todo = [i for i in todo if i in wanted]
    changed = 0
    for row in _texts(db, todo):
        with stage("copies: MinHash"):
            m = signature(row["text"])
            bands = _bands(m) if m is not None else []
        with stage("copies: match and group"), archive.transaction():
            db.execute("delete from fingerprint_bands where article_id = ?", [row["id"]])
            db["fingerprints"].upsert(
                {"article_id": row["id"], "content_hash": row["content_hash"],
                 "minhash": m.hashvalues.astype("uint64").tobytes() if m is not None else b""},
                pk="article_id",
            )
            db["fingerprint_bands"].insert_all(
                [{"band": b, "hash": h, "article_id": row["id"]} for b, h in bands], ignore=True
            )
            matches = _matches(archive, row["id"], m, bands) if m is not None else []
            changed += _regroup(archive, row["id"], matches)
    return changed


def _texts(db, ids: list[int], batch: int = 200) -> Iterator[dict]:
    """The articles `ids` with their text, read `batch` at a time: an indexer that fell behind a
    fast crawl held every waiting article's text at once (the indexing process grew to 372 MB at
    50,000 generated pages)."""
    for start in range(0, len(ids), batch):
        part = ids[start:start + batch]
        marks = ",".join("?" * len(part))
        sql = f"select id, content_hash, text from articles where id in ({marks}) order by id"
        yield from list(db.query(sql, part))


def _matches(archive: Archive, article_id: int, m: MinHash, bands: list[tuple[int, str]]) -> list[int]:
    import numpy as np

    if not bands:
        return []
    # The candidates sharing the most bands are the likeliest copies. Reading at most PER_BAND rows
    # per band and checking only the best few keeps a flood of near-identical items (boilerplate,
    # a re-sent feed) from going quadratic.
    shared: Counter = Counter()
    for band, digest in bands:
        for (cid,) in archive.db.execute(
            "select article_id from fingerprint_bands where band = ? and hash = ? and article_id != ? limit ?",
            [band, digest, article_id, PER_BAND],
        ):
            shared[cid] += 1
    mine = m.hashvalues.astype(np.uint64)
    out = []
    for cid, _n in shared.most_common(MAX_CANDIDATES):
        blob = archive.db.execute("select minhash from fingerprints where article_id = ?", [cid]).fetchone()
        if blob and blob[0]:
            # MinHash's estimate of Jaccard similarity: the share of equal hash values.
            if float(np.mean(mine == np.frombuffer(blob[0], dtype=np.uint64))) >= THRESHOLD:
                out.append(cid)
    return out


def _regroup(archive: Archive, article_id: int, matches: list[int]) -> int:
    """Put the article and its matches (with their groups) in one group led by the earliest."""
    db = archive.db
    if not matches:
        # A story of its own, unless an earlier run grouped it (its copies still point at it).
        db.execute("update articles set group_id = id where id = ? and group_id is null", [article_id])
        return 0
    marks = ",".join("?" * len(matches))
    groups = {
        r["g"] for r in db.query(f"select coalesce(group_id, id) as g from articles where id in ({marks})", matches)
    }
    if len(groups) == 1:
        # The common case: joining one existing group. Unless this article is older than the
        # group's original, it just joins; no need to read the whole group.
        (leader,) = groups
        t = {r["id"]: r["t"] for r in db.query(
            "select id, coalesce(datetime(published), datetime(first_seen)) as t from articles where id in (?, ?)",
            [leader, article_id])}
        if (t.get(leader) or "9999", leader) <= (t.get(article_id) or "9999", article_id):
            current = db.execute("select group_id from articles where id = ?", [article_id]).fetchone()[0]
            if current == leader:
                return 0
            db.execute("update articles set group_id = ?, indexed = 0 where id = ?", [leader, article_id])
            if db.execute("select group_id from articles where id = ?", [leader]).fetchone()[0] != leader:
                # No group yet (null) reads as a group of its own everywhere, the index included:
                # only an article that led another group has to be indexed again.
                db.execute("update articles set group_id = ?, indexed = indexed * (group_id is null) where id = ?",
                           [leader, leader])
                return 2
            return 1
    members = {article_id, *matches}
    if matches:
        marks = ",".join("?" * len(matches))
        groups = [
            r["group_id"]
            for r in db.query(f"select distinct group_id from articles where id in ({marks})", matches)
            if r["group_id"] is not None
        ]
        if groups:
            gmarks = ",".join("?" * len(groups))
            members |= {r["id"] for r in db.query(f"select id from articles where group_id in ({gmarks})", groups)}
    marks = ",".join("?" * len(members))
    rows = list(
        db.query(
            "select id, group_id, coalesce(datetime(published), datetime(first_seen)) as t from articles "
            f"where id in ({marks})",
            list(members),
        )
    )
    leader = min(rows, key=lambda r: (r["t"] or "9999", r["id"]))["id"]
    changed = 0
    for r in rows:
        if r["group_id"] != leader:
            stays = r["group_id"] is None and r["id"] == leader  # its own group before and after
            db.execute(f"update articles set group_id = ?{'' if stays else ', indexed = 0'} where id = ?",
                       [leader, r["id"]])
            changed += 1
    return changed


def copies_of_many(archive: Archive, article_ids: list[int]) -> dict[int, list[dict]]:
    """The other articles of each article's group, in one query."""
    out: dict[int, list[dict]] = {i: [] for i in article_ids}
    if not article_ids:
        return out
    marks = ",".join("?" * len(article_ids))
    for row in archive.db.query(
        "select a.id as of_id, b.id, b.url, b.source, b.title, b.published from articles a "
        f"join articles b on b.group_id = a.group_id and b.id != a.id where a.id in ({marks}) "
        "order by datetime(b.published), b.id",
        article_ids,
    ):
        out[row.pop("of_id")].append(row)
    return out


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two texts' 5-gram sets (for measurement)."""
    ma, mb = signature(a), signature(b)
    if ma is None or mb is None:
        return 0.0
    return ma.jaccard(mb)

