"""Schema, upserts and queries of the archive file, written through sqlite-utils."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import sqlite3
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from archive import schema
from archive.cpu import stage
from archive.errors import ArchiveError, ArchiveFull
from archive.schema import ARTICLE_COLUMNS, PAGE_PROVENANCE, VERSION_FIELDS  # noqa: F401 - the archive's names
from archive.sqlite import sqlite_utils
from archive.urls import is_front_page, url_key

DB_NAME = "archive.db"
DATA_ENV = "CCNEWS_DATA"
DEFAULT_DATA_DIR = "ccnews-data"
# A crawl and a search may hold the file at once; wait this long for a lock before failing.
BUSY_TIMEOUT_MS = 15_000

# Two captures reached through a canonical link are one article when their texts share this much.
SAME_TEXT = 0.5


def resolve_data_dir(value: str | Path | None = None) -> Path:
    """The data directory: `value`, else $CCNEWS_DATA, else ./ccnews-data."""
    return Path(value or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def content_hash(title: str | None, text: str | None) -> str:
    normal = " ".join(f"{title or ''}\n{text or ''}".split())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def same_article(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two captures hold the same article: the same content, or the same headline, day and
    mostly the same text. A canonical link alone never decides it."""
    if a.get("content_hash") and a.get("content_hash") == b.get("content_hash"):
        return True
    day_a, day_b = (a.get("published") or "")[:10], (b.get("published") or "")[:10]
    if day_a and day_b and day_a != day_b:
        return False
    from archive.copies import shingles  # the word 5-grams copies are found by

    wa, wb = shingles(a.get("text") or ""), shingles(b.get("text") or "")
    if not wa or not wb:
        return False
    overlap = len(wa & wb) / len(wa | wb)
    same_title = " ".join((a.get("title") or "").casefold().split()) == " ".join(
        (b.get("title") or "").casefold().split()
    )
    return overlap >= (SAME_TEXT if same_title else 0.8)


def compress(body: bytes) -> bytes:
    # Level 3: half the time of the default 6 on news pages for 12% more bytes (measured on the
    # 258 real pages: 2.0 vs 4.3 ms a page, 21.1% vs 18.8% of the size); the crawl's own process
    # compresses every page it keeps.
    return zlib.compress(body, 3)


def decompress(blob: bytes) -> bytes:
    return zlib.decompress(blob)


class Archive:
    """One SQLite file in the data directory."""

    def __init__(self, data_dir: str | Path, *, create: bool = True):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        if not create and not self.path.exists():
            raise ArchiveError(f"no archive at {self.path}: run `ccnews crawl` or `ccnews demo` first")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # In WAL mode NORMAL never corrupts the file; it only may lose the last commits on
            # power loss, and saves an fsync per article.
            conn.execute("PRAGMA synchronous = NORMAL")
            # No sqlite-utils plugins: looking for them reads every installed package's entry
            # points (13 ms of each command), and none of them is ours to run on the archive.
            self.db = sqlite_utils.Database(conn, execute_plugins=False)
            if create:
                self.db.enable_wal()
            elif "articles" not in self.db.table_names():
                raise ArchiveError(f"{self.path} is not a ccnews archive")
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            raise archive_error(exc, self.path) from exc
        except OSError as exc:
            raise ArchiveError(f"cannot open archive {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write; a lock held elsewhere becomes an ArchiveError after the busy timeout.

        An explicit BEGIN IMMEDIATE, and sqlite-utils' atomic() savepoints when nested, so every
        write inside (sqlite-utils' own inserts included) commits together or not at all.
        """
        conn = self.db.conn
        try:
            if conn.in_transaction:
                with self.db.atomic():  # a savepoint inside the outer transaction
                    yield
                return
            # IMMEDIATE takes the write lock first, waiting for it up to the busy timeout. A
            # deferred BEGIN that reads and then writes fails at once, without waiting, in WAL mode
            # when another process committed in between (SQLITE_BUSY_SNAPSHOT): the crawl and
            # the indexer beside it write to the same file.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError:
            raise  # our own constraint: the caller decides (the Redis writer skips the item)
        except sqlite3.DatabaseError as exc:  # locked, full, damaged
            raise archive_error(exc, self.path) from exc

    # -- schema -----------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        """Bring the file to this ccnews's schema: the pending named migrations (archive/schema.py),
        applied under the write lock, which also makes a second process wait rather than repeat them."""
        newer = schema.newer_than_this(self.db)
        if newer:
            raise ArchiveError(f"{self.path} was written by a newer ccnews (it has the change {newer[-1]!r}): "
                               "upgrade ccnews to use it")
        if schema.MIGRATIONS.pending(self.db):
            with self.transaction():
                schema.upgrade(self.db)

    # -- sources ----------------------------------------------------------------------------

    def upsert_sources(self, sources: Iterable[dict[str, Any]]) -> None:
        rows = []
        for s in sources:
            rows.append(
                {
                    "id": s["id"], "name": s.get("name"), "homepage": s.get("homepage"),
                    "language": s.get("language"), "country": s.get("country"),
                    "city": s.get("city"), "timezone": s.get("timezone"),
                    "feeds": json.dumps(s.get("feeds") or []),
                    "sitemaps": json.dumps(s.get("sitemaps") or []),
                    "listings": json.dumps(s.get("listings") or []),
                    "article_pattern": s.get("article_pattern"), "delay": s.get("delay"),
                    "settings": json.dumps(s, ensure_ascii=False, default=str), "updated": now_iso(),
                }
            )
        with self.transaction():
            self.db["sources"].upsert_all(rows, pk="id")

    def source_settings(self) -> dict[str, dict[str, Any]]:
        """Each archived source's registry entry as it was last crawled with (older archives kept
        only some of its fields: those are given)."""
        out = {}
        for row in self.db.query("select * from sources"):
            if row.get("settings"):
                out[row["id"]] = json.loads(row["settings"])
                continue
            entry = {k: row[k] for k in ("id", "name", "homepage", "language", "country", "city", "timezone",
                                         "article_pattern") if row.get(k) is not None}
            entry.update({k: json.loads(row[k] or "[]") for k in ("feeds", "sitemaps", "listings")})
            out[row["id"]] = entry
        return out

    # -- articles ---------------------------------------------------------------------------

    def lookup_url(self, url: str) -> dict[str, Any] | None:
        """The archived article reached by `url`, with what a conditional GET needs."""
        rows = list(
            self.db.query(
                "select a.id, a.url, a.fetched_at, a.etag, a.last_modified, a.content_hash "
                "from article_urls u join articles a on a.id = u.article_id where u.url_key = ?",
                [url_key(url)],
            )
        )
        return rows[0] if rows else None

    def known_url_keys(self, source: str, all_skipped: bool = False) -> dict[str, dict[str, Any]]:
        """url_key -> validators for every URL of a source's archived articles, and the URLs judged
        not relevant (with `all_skipped`, also those judged not to be articles)."""
        out = {}
        for row in self.db.query(
            "select u.url_key, a.id, a.fetched_at, a.etag, a.last_modified from article_urls u "
            "join articles a on a.id = u.article_id where a.source = ?",
            [source],
        ):
            out[row.pop("url_key")] = row
        reasons = "" if all_skipped else " and reason = 'not_relevant'"
        for row in self.db.query(f"select url_key, first_seen from skipped_urls where source = ?{reasons}", [source]):
            out[row["url_key"]] = {"id": None, "skipped": True, "fetched_at": row["first_seen"],
                                   "etag": None, "last_modified": None}
        return out

    def remember_skipped(self, urls: Iterable[str], source: str, reason: str, relevance: float | None = None) -> None:
        stamp = now_iso()
        rows = [{"url_key": url_key(u), "source": source, "url": u, "reason": reason, "relevance": relevance,
                 "first_seen": stamp} for u in urls if u]
        with self.transaction():
            self.db["skipped_urls"].insert_all(rows, ignore=True)

    def set_tags(self, article_id: int, tags: dict[str, Any], *, reindex: bool = False) -> None:
        """Store an article's cities, fields, network terms and relevance (inside a transaction)."""
        self.db["articles"].update(article_id, {
            "cities": json.dumps([c["city"] for c in tags["cities"]], ensure_ascii=False),
            "fields": json.dumps([f["field"] for f in tags["fields"]], ensure_ascii=False),
            "network": json.dumps(tags["network"], ensure_ascii=False),
            "relevance": tags["relevance"],
            **({"indexed": 0} if reindex else {}),
        })
        self.db.execute("delete from article_tags where article_id = ?", [article_id])
        rows = [
            {"article_id": article_id, "kind": "city", "value": c["city"], "score": c["score"]} for c in tags["cities"]
        ]
        rows += [
            {"article_id": article_id, "kind": "field", "value": f["field"], "score": f["score"]}
            for f in tags["fields"]
        ]
        rows += [{"article_id": article_id, "kind": "network", "value": t, "score": 1.0} for t in tags["network"]]
        self.db["article_tags"].insert_all(rows, ignore=True)

    def store_article(
        self, record: dict[str, Any], pages: list[dict[str, Any]], aliases: Iterable[str] = (),
        tags: dict[str, Any] | None = None,
    ) -> tuple[str, int]:
        """Insert or update one article and its raw pages; returns (new|updated|unchanged, id).

        An article is found by the URLs it was fetched at (the final URL and, unless a redirect led
        to a site's front page, the URL asked for). Its `<link rel=canonical>` is only a hint: it
        joins the record the canonical URL names (or that earlier pages naming the same canonical
        made) when the content says it is the same article (`same_article`); distinct articles that
        share a canonical stay distinct. A changed capture never overwrites the one before: that is
        kept, raw pages included, in `article_versions` and `version_pages`.
        """
        stamp = record.get("fetched_at") or now_iso()
        own = url_key(record["url"])
        urls = [record["url"]]
        if not is_front_page(own):
            urls += [u for u in aliases if u]
        keys = list(dict.fromkeys(url_key(u) for u in urls))
        canonical = record.get("canonical_url")
        canonical_key = url_key(canonical) if canonical else None
        if canonical_key and (is_front_page(canonical_key) or canonical_key in keys):
            canonical_key = None  # a front page is no article's canonical; naming itself says nothing
        row = dict(record)
        row["authors"] = json.dumps(row.get("authors") or [], ensure_ascii=False)
        row["tags"] = json.dumps(row.get("tags") or [], ensure_ascii=False)
        row["content_hash"] = content_hash(row.get("title"), row.get("text"))
        row["url_key"] = own
        row["canonical_key"] = canonical_key
        row["fetched_at"] = stamp
        with self.transaction():
            current = self._find_by_urls(keys)
            if current is None:
                current = self._find_same(keys, canonical_key, row)
            if current is not None:
                article_id = current["id"]
                # The record keeps the URL it was first archived at, unless this is the page that
                # record named as its canonical.
                promote = current.get("canonical_key") in keys and current["url_key"] not in keys
                if not promote:
                    row.pop("url_key")
                if current["content_hash"] == row["content_hash"]:
                    outcome = "unchanged"
                    update = {k: row.get(k) for k in ("fetched_at", "etag", "last_modified")}
                    if promote:
                        update.update(url=row["url"], url_key=own, canonical_url=row.get("canonical_url"),
                                      canonical_key=None)
                    self.db["articles"].update(article_id, update)
                else:
                    outcome = "updated"
                    self._keep_version(current, stamp)
                    row.pop("first_seen", None)
                    row.update(updated_at=stamp, indexed=0)
                    if current.get("canonical_key") and not canonical_key and not promote:
                        row.pop("canonical_key")
                    self.db["articles"].update(article_id, row)
                    self._insert_pages(article_id, pages, stamp)
            else:
                outcome = "new"
                row.update(first_seen=stamp, updated_at=stamp, indexed=0)
                article_id = self.db["articles"].insert(row).last_pk
                self._insert_pages(article_id, pages, stamp)
            self.db["article_urls"].insert_all(
                [
                    {"url_key": k, "article_id": article_id, "url": u, "first_seen": stamp}
                    for k, u in zip(keys, dict.fromkeys(urls))
                ],
                ignore=True,
            )
            if tags is not None and outcome != "unchanged":
                self.set_tags(article_id, tags)
        return outcome, article_id

    def _find_by_urls(self, keys: list[str]) -> dict[str, Any] | None:
        marks = ",".join("?" * len(keys))
        found = list(self.db.query(
            f"select a.* from article_urls u join articles a on a.id = u.article_id where u.url_key in ({marks}) "
            f"union all select * from articles where url_key in ({marks}) limit 1",
            keys + keys,
        ))
        return found[0] if found else None

    def _find_same(self, keys: list[str], canonical_key: str | None, row: dict[str, Any]) -> dict[str, Any] | None:
        """The archived article this capture is the same article as: the page its canonical names,
        pages that named this page (or the same canonical) as theirs, or the outlet's article
        with the same headline that day. Only when the content says so (`same_article`)."""
        names = [*keys, canonical_key] if canonical_key else list(keys)
        marks = ",".join("?" * len(names))
        candidates = list(self.db.query(
            f"select * from articles where canonical_key in ({marks}) "
            + ("union select a.* from article_urls u join articles a on a.id = u.article_id where u.url_key = ? "
               if canonical_key else "")
            + "limit 50",
            names + ([canonical_key] if canonical_key else []),
        ))
        if row.get("title") and row.get("published"):
            # The same outlet's article at another address (an old domain in a web archive, a
            # print or mobile URL without a canonical link): the same headline on the same day.
            candidates += list(self.db.query(
                "select * from articles where source = ? and title = ? and substr(published, 1, 10) = ? limit 20",
                [row.get("source"), row["title"], row["published"][:10]]))
        for candidate in candidates:
            if same_article(candidate, row):
                return candidate
        return None

    def _keep_version(self, current: dict[str, Any], stamp: str) -> None:
        """Move the article's current capture (fields and raw pages) into its version history."""
        fields = {k: current.get(k) for k in VERSION_FIELDS}
        version_id = self.db["article_versions"].insert({
            "article_id": current["id"], "captured_at": current.get("fetched_at"), "superseded_at": stamp,
            **fields,
        }).last_pk
        self.db.execute(
            "insert into version_pages (version_id, page_no, url, status, content_type, encoding, headers, "
            "fetched_at, size, body, origin, archive, capture_time, replay_url) select ?, page_no, url, status, "
            "content_type, encoding, headers, fetched_at, size, body, origin, archive, capture_time, replay_url "
            "from raw_pages where article_id = ?",
            [version_id, current["id"]],
        )
        self.db.execute("delete from raw_pages where article_id = ?", [current["id"]])

    def versions(self, article_id: int) -> list[dict[str, Any]]:
        """Earlier captures of an article, oldest first, each with its raw pages' URLs and sizes."""
        rows = list(self.db.query(
            "select * from article_versions where article_id = ? order by id", [article_id]))
        for r in rows:
            r["authors"] = json.loads(r["authors"] or "[]")
            r["pages"] = list(self.db.query(
                "select page_no, url, status, fetched_at, size from version_pages where version_id = ? "
                "order by page_no", [r["id"]]))
        return rows

    def version_pages(self, version_id: int) -> list[dict[str, Any]]:
        rows = list(self.db.query(
            "select * from version_pages where version_id = ? order by page_no", [version_id]))
        for r in rows:
            r["body"] = decompress(r["body"])
            r["headers"] = json.loads(r["headers"] or "{}")
        return rows

    def article_details(self, article_id: int, versions: bool = False) -> dict[str, Any]:
        """One article as `ccnews show` prints it: its fields, the URLs it was reached at, its
        syndicated copies, the collections it is in and (with `versions`) its earlier captures."""
        from archive.copies import copies_of_many

        rows = self.get_articles([article_id])
        if not rows:
            raise ArchiveError(f"no article with id {article_id}")
        record = {k: v for k, v in rows[article_id].items() if k not in ("indexed", "canonical_key")}
        for key in ("authors", "tags", "cities", "fields", "network"):
            record[key] = json.loads(record.get(key) or "[]")
        record["urls"] = [r["url"] for r in self.db.query(
            "select url from article_urls where article_id = ? order by first_seen", [article_id])]
        record["copies"] = copies_of_many(self, [article_id])[article_id]
        record["collections"] = [r["name"] for r in self.db.query(
            "select c.name from collection_articles ca join collections c on c.id = ca.collection_id "
            "where ca.article_id = ? and not coalesce(ca.removed, 0) order by c.name", [article_id])]
        record["n_versions"] = self.db.execute(
            "select count(*) from article_versions where article_id = ?", [article_id]).fetchone()[0]
        if versions:
            record["versions"] = self.versions(article_id)
        return record

    def _insert_pages(self, article_id: int, pages: list[dict[str, Any]], stamp: str) -> None:
        self.db["raw_pages"].insert_all(
            {
                "article_id": article_id, "page_no": i + 1, "url": p["url"],
                "status": p.get("status"), "content_type": p.get("content_type"),
                "encoding": p.get("encoding"),
                "headers": json.dumps(p.get("headers") or {}, ensure_ascii=False),
                "fetched_at": p.get("fetched_at") or stamp, "size": len(p["body"]),
                "body": compress(p["body"]), "origin": p.get("origin") or "live", "archive": p.get("archive"),
                "capture_time": p.get("capture_time"), "replay_url": p.get("replay_url"),
            }
            for i, p in enumerate(pages)
        )

    def mark_unchanged(self, article_id: int, fetched_at: str | None = None) -> None:
        """A conditional GET said 304: the archived copy is current."""
        with self.transaction():
            self.db["articles"].update(article_id, {"fetched_at": fetched_at or now_iso()})

    def raw_pages(self, article_id: int) -> list[dict[str, Any]]:
        rows = list(
            self.db.query(
                "select * from raw_pages where article_id = ? order by page_no", [article_id]
            )
        )
        for r in rows:
            r["body"] = decompress(r["body"])
            r["headers"] = json.loads(r["headers"] or "{}")
        return rows

    def raw_page_list(self, article_id: int) -> list[dict[str, Any]]:
        """The current capture's raw pages of an article, without their bodies."""
        return list(self.db.query(
            "select page_no, url, status, content_type, fetched_at, size, origin, archive, capture_time, replay_url "
            "from raw_pages where article_id = ? order by page_no", [article_id]))

    def raw_page(self, article_id: int, page_no: int, version_id: int | None = None) -> dict[str, Any] | None:
        """One stored page with its bytes: of the current capture, or of the earlier capture
        `version_id` of that article."""
        if version_id is None:
            rows = list(self.db.query("select * from raw_pages where article_id = ? and page_no = ?",
                                      [article_id, page_no]))
        else:
            rows = list(self.db.query(
                "select p.* from version_pages p join article_versions v on v.id = p.version_id "
                "where v.article_id = ? and p.version_id = ? and p.page_no = ?", [article_id, version_id, page_no]))
        if not rows:
            return None
        row = rows[0]
        row["body"] = decompress(row["body"])
        row["headers"] = json.loads(row.get("headers") or "{}")
        return row

    def run(self, run_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from crawl_runs where id = ?", [run_id]))
        return rows[0] if rows else None

    def update_article(self, article_id: int, fields: dict[str, Any]) -> bool:
        """Rewrite extracted fields (after re-extraction); returns whether anything changed."""
        row = dict(fields)
        for key in ("authors", "tags"):
            if key in row and not isinstance(row[key], str):
                row[key] = json.dumps(row[key] or [], ensure_ascii=False)
        current = self.db["articles"].get(article_id)
        if all(current.get(k) == v for k, v in row.items()):
            return False
        row["content_hash"] = content_hash(row.get("title", current["title"]), row.get("text", current["text"]))
        row.update(updated_at=now_iso(), indexed=0)
        with self.transaction():
            self.db["articles"].update(article_id, row)
        return True

    def article_ids(self) -> list[int]:
        return [r["id"] for r in self.db.query("select id from articles order by id")]

    def get_articles(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"select * from articles where id in ({marks})", chunk):
                out[row["id"]] = row
        return out

    def holds(self, column: str, value: str) -> bool:
        """Whether any article has this source or language."""
        if column not in ("source", "language"):
            raise ValueError(column)
        return self.db.execute(f"select 1 from articles where {column} = ? limit 1", [value]).fetchone() is not None

    def known_values(self) -> dict[str, set[str]]:
        """The sources and languages the archive holds articles of (to tell a typo from nothing)."""
        return {
            "sources": {r[0] for r in self.db.execute("select distinct source from articles")},
            "languages": {
                r[0] for r in self.db.execute("select distinct language from articles where language is not null")
            },
        }

    def count_articles(self) -> int:
        return self.db["articles"].count

    # -- index bookkeeping ------------------------------------------------------------------

    def unindexed(self, batch: int = 1000, upto: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Batches of articles the search index has not seen in their current state (with `upto`,
        only those with an id up to it)."""
        last = 0
        while True:
            with stage("index: read archive"):
                rows = list(
                    self.db.query(
                        "select * from articles where indexed = 0 and id > ? and id <= ? order by id limit ?",
                        [last, upto if upto is not None else 2**63 - 1, batch],
                    )
                )
            if not rows:
                return
            yield rows
            last = rows[-1]["id"]

    def mark_indexed(self, rows: list[tuple[int, str, int | None]]) -> None:
        """Flag rows as indexed, unless they changed again since they were read: their text
        (content hash) or their syndication group, which the grouping beside a crawl may change
        while the indexer writes."""
        with self.transaction():
            self.db.conn.executemany(
                "update articles set indexed = 1 where id = ? and content_hash = ? and coalesce(group_id, -1) = ?",
                [(i, h, -1 if g is None else g) for i, h, g in rows],
            )

    def count_unindexed(self) -> int:
        return self.db.execute("select count(*) from articles where indexed = 0").fetchone()[0]

    # -- imports of WARC files ---------------------------------------------------------------

    def import_state(self, key: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from imports where key = ?", [key]))
        if not rows:
            return None
        return {"offset": json.loads(rows[0]["position"]) if rows[0]["position"] else None, "done": rows[0]["done"]}

    def record_import(self, key: str, name: str, position: Any, done: bool) -> None:
        with self.transaction():
            self.db["imports"].upsert({"key": key, "name": name, "position": json.dumps(position), "done": int(done),
                                       "updated": now_iso()}, pk="key")

    # -- crawl runs -------------------------------------------------------------------------

    def start_run(self, source: str, job: str | None = None) -> int:
        with self.transaction():
            return self.db["crawl_runs"].insert(
                {"source": source, "started": now_iso(), "finish_reason": "running", "outcome": "running",
                 "job": job, "pid": os.getpid(), "host": socket.gethostname()}
            ).last_pk

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        row = {k: v for k, v in summary.items() if k in self.db["crawl_runs"].columns_dict}
        row["skipped"] = json.dumps(summary.get("skipped") or {}, sort_keys=True)
        row["stats"] = json.dumps(summary.get("stats") or {}, sort_keys=True, default=str)
        row["finished"] = now_iso()
        with self.transaction():
            self.db["crawl_runs"].update(run_id, row)

    def record_run(self, summary: dict[str, Any]) -> int:
        """A whole run at once, as a worker of a shared crawl reports it at its end (through Redis)."""
        row = {k: v for k, v in summary.items() if k in self.db["crawl_runs"].columns_dict and k != "id"}
        row["skipped"] = json.dumps(summary.get("skipped") or {}, sort_keys=True)
        row["stats"] = json.dumps(summary.get("stats") or {}, sort_keys=True, default=str)
        with self.transaction():
            return self.db["crawl_runs"].insert(row).last_pk

    def runs(self, source: str | None = None, limit: int = 50, outcome: str | None = None) -> list[dict[str, Any]]:
        clauses, params = [], []
        if source:
            clauses.append("source = ?")
            params.append(source)
        if outcome:
            clauses.append("outcome = ?")
            params.append(outcome)
        where = ("where " + " and ".join(clauses)) if clauses else ""
        return list(
            self.db.query(
                f"select * from crawl_runs {where} order by id desc limit ?", [*params, limit]
            )
        )

    def last_runs(self) -> dict[str, dict[str, Any]]:
        """The latest run of every source."""
        return {r["source"]: r for r in self.db.query(
            "select * from crawl_runs where id in (select max(id) from crawl_runs group by source)")}

    def mark_interrupted(self, run_id: int) -> None:
        with self.transaction():
            self.db["crawl_runs"].update(run_id, {"finish_reason": "interrupted", "outcome": "interrupted",
                                                  "finished": now_iso()})

    # -- timelines ---------------------------------------------------------------------------

    def counts_over_time(self, ids: list[int] | None, by: str, series: str | None = None,
                         one_per_group: bool = False) -> tuple[list[dict[str, Any]], int]:
        """Article counts per period for `ids` (None: all), with `series` "source" or "city" one count
        per period and source or tagged member city (an article naming two cities counts in both);
        also how many are undated."""
        summary = self.summary(ids, by, series, one_per_group=one_per_group, facets=False)
        return summary["timeline"], summary["undated"]

    def summary(self, ids: list[int] | None, by: str = "year", series: str | None = None,
                one_per_group: bool = False, facets: bool = True, limit: int = 30) -> dict[str, Any]:
        """What a search page shows beside its hits, in one pass over the matching articles (`ids`;
        None: all): `facets` (how many per source, language, member city and creative field, most
        first), `stories` (syndicated copies counted once), `timeline` (counts per period, and per
        source or city with `series`) and `undated`. Periods are the outlet's own calendar days,
        weeks starting on Monday, months or years."""
        if by not in PERIODS:
            raise ArchiveError(f"unknown period {by!r}: use {', '.join(PERIODS)}")
        if series not in (None, "source", "city"):
            raise ArchiveError(f"unknown series {series!r}: use source or city")
        if ids is not None and not ids:
            return {"facets": {k: [] for k in ("source", "language", "city", "field")}, "stories": 0,
                    "timeline": [], "undated": 0}
        where, params = ("where id in (select value from json_each(?))", [json.dumps(ids)]) if ids is not None \
            else ("", [])
        rows = self.db.execute(f"select id, source, language, group_id, published from articles "
                               f"indexed by idx_articles_summary {where}", params).fetchall()
        tags: dict[str, list[tuple[int, str]]] = {"city": [], "field": []}
        if facets or series == "city":
            tag_where = where.replace("where id", "and article_id")
            for article_id, kind, value in self.db.execute(
                    f"select article_id, kind, value from article_tags where kind in ('city', 'field') {tag_where}",
                    params):
                tags[kind].append((article_id, value))
        period = _PERIOD_OF[by]
        counts: Counter = Counter()
        undated = 0
        cities: dict[int, list[str]] = {}
        for article_id, value in tags["city"]:
            cities.setdefault(article_id, []).append(value)
        for article_id, source, _language, group, published in rows:
            if one_per_group and group not in (None, article_id):
                continue  # a syndicated story counts once, on its earliest copy
            if not published:
                undated += 1
                continue
            when = period(published)
            if series == "source":
                counts[(when, source)] += 1
            elif series == "city":
                for city in cities.get(article_id, ()):
                    counts[(when, city)] += 1
            else:
                counts[(when, None)] += 1
        timeline = [{"period": when, **({"series": name} if series else {}), "articles": n}
                    for (when, name), n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]
        out: dict[str, Any] = {"timeline": timeline, "undated": undated,
                               "stories": len({r[3] or r[0] for r in rows})}
        if facets:
            def top(values) -> list[tuple[str, int]]:
                return sorted(Counter(v for v in values if v is not None).items(), key=lambda r: (-r[1], r[0]))[:limit]

            out["facets"] = {"source": top(r[1] for r in rows), "language": top(r[2] for r in rows),
                             "city": top(v for _a, v in tags["city"]), "field": top(v for _a, v in tags["field"])}
        return out

    # -- queries for export -----------------------------------------------------------------

    def select_articles(
        self,
        *,
        ids: list[int] | None = None,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        language: str | None = None,
        cities: list[str] | None = None,
        fields: list[str] | None = None,
        min_relevance: float | None = None,
        origin: str | None = None,
        columns: list[str] | None = None,
        order: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """Rows of `articles` matching the filters; dates compare as ISO strings (UTC-normalised
        bounds are given by the caller). `order`: "published desc", "published asc" or "id"; by
        default the order of `ids` when given (search relevance), else newest first."""
        orders = {"published desc": "published_utc desc, id desc", "published asc": "published_utc asc, id", "id": "id"}
        cols = ", ".join(f"[{c}]" for c in (columns or [c for c in ARTICLE_COLUMNS if c != "indexed"]))
        clauses, params = [], []
        for kind, values in (("city", cities), ("field", fields)):
            if values:
                clauses.append(
                    f"a.id in (select article_id from article_tags where kind = '{kind}' "
                    f"and value in ({','.join('?' * len(values))}))"
                )
                params += list(values)
        if min_relevance is not None:
            clauses.append("relevance >= ?")
            params.append(min_relevance)
        if sources:
            clauses.append(f"source in ({','.join('?' * len(sources))})")
            params += sources
        if since:
            clauses.append("published_utc >= ?")
            params.append(since)
        if until:
            clauses.append("published_utc <= ?")
            params.append(until)
        if language:
            clauses.append("language = ?")
            params.append(language)
        if origin:
            clauses.append("coalesce(origin, 'live') = ?")
            params.append(origin)
        if ids is not None:
            # Keep the caller's order (search relevance) by joining a values list.
            if not ids:
                return iter(())
            values = ",".join(f"({int(i)},{n})" for n, i in enumerate(ids))
            where = (" and " + " and ".join(clauses)) if clauses else ""
            cols = ", ".join(f"a.{c}" for c in cols.split(", "))
            sql = (
                f"with wanted(id, pos) as (values {values}) select {cols} from "
                f"(select *, {_UTC_EXPR} as published_utc from articles) a "
                f"join wanted w on w.id = a.id where 1=1{where} order by {orders.get(order or '', 'w.pos')}"
            )
        else:
            where = (" where " + " and ".join(clauses)) if clauses else ""
            sql = (
                f"select {cols} from (select *, {_UTC_EXPR} as published_utc from articles) a"
                f"{where} order by {orders[order or 'published desc']}"
            )
        if limit or offset:
            sql += f" limit {int(limit) if limit else -1} offset {int(offset)}"
        return self.db.query(sql, params)


def _week(published: str) -> str:
    try:
        day = date.fromisoformat(published[:10])
    except ValueError:
        return published[:10]
    return (day - timedelta(days=day.weekday())).isoformat()  # the Monday


# The period of an ISO date with its offset: the outlet's own calendar date.
_PERIOD_OF = {"day": lambda p: p[:10], "week": _week, "month": lambda p: p[:7], "year": lambda p: p[:4]}
PERIODS = tuple(_PERIOD_OF)


# ISO timestamps with different offsets do not sort as text; SQLite's datetime() normalises to UTC.
_UTC_EXPR = "datetime(published)"


def archive_error(exc: BaseException, path: Path | None) -> ArchiveError:
    """The one-line error for an SQLite (or OS) failure on the archive at `path`."""
    msg = str(exc)
    path = path or "in the data directory"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "disk is full" in msg or "SQLITE_FULL" in msg:
        return ArchiveFull(f"the disk holding the archive {path} is full: free some space, then run again "
                           "(nothing archived is lost)")
    if "locked" in msg or "busy" in msg:
        return ArchiveError(f"the archive {path} is locked by another process (waited {BUSY_TIMEOUT_MS // 1000}s): "
                            "try again when it finishes")
    if "not a database" in msg or "malformed" in msg or "disk image" in msg:
        return ArchiveError(f"the archive {path} is damaged or not a SQLite file ({msg}); see the README on "
                            "recovering an archive")
    return ArchiveError(f"archive {path}: {msg}")
