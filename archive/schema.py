"""Every table of the archive, as named migrations (sqlite-utils' `Migrations`).

An archive records the migrations applied to it in `_sqlite_migrations`, so an archive made by an
earlier ccnews is upgraded in place, step by step, when it is opened. The first steps below are
written to be safe on archives made before migrations were recorded (they create only what is
missing): such an archive runs all of them once. A new change to the schema is a new function at
the end, never an edit of an applied one.
"""

from __future__ import annotations

from typing import Any

from archive.sqlite import Migrations

MIGRATIONS = Migrations("ccnews")
NAMES: list[str] = []


def migration(name: str):
    NAMES.append(name)
    return MIGRATIONS(name=name)

ARTICLE_COLUMNS: dict[str, Any] = {
    "id": int,
    "url": str,
    "canonical_url": str,  # what the page's <link rel=canonical> says: a hint, not an identity
    "canonical_key": str,  # its url_key, where it names another page than the front page
    "url_key": str,
    "source": str,
    "title": str,
    "text": str,
    "authors": str,  # JSON list
    "published": str,  # ISO 8601 with offset
    "modified": str,
    "language": str,
    "description": str,
    "image": str,
    "tags": str,  # JSON list
    "word_count": int,
    "pages": int,
    "fetched_at": str,
    "first_seen": str,
    "updated_at": str,
    "content_hash": str,
    "etag": str,
    "last_modified": str,
    "cities": str,  # JSON list of member cities mentioned
    "fields": str,  # JSON list of creative fields
    "network": str,  # JSON list of network terms found
    "relevance": float,  # 0..1: how much the article is about creative-city work
    "group_id": int,  # syndication group: the id of the group's first article
    "indexed": int,  # 0 while the search index lags behind this row
    "origin": str,  # where the newest capture came from: "live" or "web-archive"
    "date_source": str,  # where `published` came from: "page", "listing" or "capture" (an upper bound)
}
# Where a raw page came from: a live fetch, or a web archive's capture (and which, when, where).
PAGE_PROVENANCE = {"origin": str, "archive": str, "capture_time": str, "replay_url": str}
# What an earlier capture of an article keeps beside its raw pages.
VERSION_FIELDS = ("url", "canonical_url", "title", "text", "authors", "published", "modified", "language",
                  "description", "word_count", "pages", "content_hash", "etag", "last_modified")
RAW_PAGE = {"id": int, "page_no": int, "url": str, "status": int, "content_type": str, "encoding": str,
            "headers": str, "fetched_at": str, "size": int, "body": bytes}  # body: zlib-compressed as received


def _create(db, name: str, columns: dict[str, Any], **kwargs) -> bool:
    """Create a table unless it exists (archives from before migrations were recorded)."""
    if name in db.table_names():
        return False
    db[name].create(columns, **kwargs)
    return True


def _add_columns(db, table: str, columns: dict[str, Any]) -> None:
    have = db[table].columns_dict
    for column, kind in columns.items():
        if column not in have:
            db[table].add_column(column, kind)


@migration("001_articles_and_sources")
def _articles_and_sources(db) -> None:
    _create(db, "sources", {"id": str, "name": str, "homepage": str, "language": str, "country": str, "city": str,
                            "timezone": str, "feeds": str, "sitemaps": str, "listings": str,
                            "article_pattern": str, "delay": float, "updated": str}, pk="id")
    first = {k: v for k, v in ARTICLE_COLUMNS.items() if k not in ("origin", "date_source", "canonical_key")}
    if _create(db, "articles", first, pk="id", not_null={"url", "url_key", "source"}):
        db["articles"].create_index(["url_key"], unique=True)
        db["articles"].create_index(["source", "published"])
        db["articles"].create_index(["published"])
        db["articles"].create_index(["indexed"])
    # Every URL an article was reached by, so a second URL finds the same record.
    if _create(db, "article_urls", {"url_key": str, "article_id": int, "url": str, "first_seen": str},
               pk="url_key", foreign_keys=[("article_id", "articles", "id")]):
        db["article_urls"].create_index(["article_id"])
    if _create(db, "raw_pages", {**RAW_PAGE, "article_id": int}, pk="id",
               foreign_keys=[("article_id", "articles", "id")]):
        db["raw_pages"].create_index(["article_id", "page_no"], unique=True)
    # One row per city, field or network term of an article, for SQL filters.
    if _create(db, "article_tags", {"article_id": int, "kind": str, "value": str, "score": float},
               pk=("article_id", "kind", "value"), foreign_keys=[("article_id", "articles", "id")]):
        db["article_tags"].create_index(["kind", "value"])
    # Pages fetched once and judged not worth keeping (keep = "relevant"): not fetched again.
    if _create(db, "skipped_urls", {"url_key": str, "source": str, "url": str, "reason": str, "relevance": float,
                                    "first_seen": str}, pk="url_key"):
        db["skipped_urls"].create_index(["source"])


@migration("002_crawl_runs")
def _crawl_runs(db) -> None:
    if _create(db, "crawl_runs", {"id": int, "source": str, "started": str, "finished": str, "finish_reason": str,
                                  "pages_fetched": int, "articles_new": int, "articles_updated": int,
                                  "articles_unchanged": int, "articles_skipped": int, "skipped": str,
                                  "errors": int, "stats": str}, pk="id"):
        db["crawl_runs"].create_index(["source", "started"])
    # Judged from the run's own figures; the Scrapyd job, process and host that ran it.
    _add_columns(db, "crawl_runs", {"outcome": str, "job": str, "pid": int, "host": str})


@migration("003_copies_and_canonical_links")
def _copies(db) -> None:
    _add_columns(db, "articles", {"canonical_key": str})
    # Listing a search hit's copies looks its group up; canonical links and same-day headlines
    # find the same article at another address.
    db["articles"].create_index(["group_id"], if_not_exists=True)
    db["articles"].create_index(["canonical_key"], if_not_exists=True)
    db["articles"].create_index(["source", "title"], if_not_exists=True)
    # MinHash signatures of the articles' word 5-grams and their LSH bands (archive/copies.py).
    _create(db, "fingerprints", {"article_id": int, "content_hash": str, "minhash": bytes}, pk="article_id")
    if _create(db, "fingerprint_bands", {"band": int, "hash": str, "article_id": int},
               pk=("band", "hash", "article_id")):
        db["fingerprint_bands"].create_index(["article_id"])


@migration("004_collections")
def _collections(db) -> None:
    if _create(db, "collections", {"id": int, "name": str, "description": str, "query": str, "filters": str,
                                   "created": str, "updated": str}, pk="id", not_null={"name"}):
        db["collections"].create_index(["name"], unique=True)
    # removed = 1 keeps a removed article out when the query is run again
    _create(db, "collection_articles", {"collection_id": int, "article_id": int, "added": str, "how": str,
                                        "removed": int}, pk=("collection_id", "article_id"),
            foreign_keys=[("collection_id", "collections", "id"), ("article_id", "articles", "id")])


@migration("005_scrapyd_jobs")
def _scrapyd_jobs(db) -> None:
    if _create(db, "scrapyd_jobs", {"job": str, "source": str, "daemon": str, "submitted": str}, pk="job"):
        db["scrapyd_jobs"].create_index(["source"])


@migration("006_web_archives")
def _web_archives(db) -> None:
    _add_columns(db, "articles", {"origin": str, "date_source": str})
    _add_columns(db, "raw_pages", PAGE_PROVENANCE)
    # How far each WARC file (path, size and mtime) was imported: a JSON position.
    _create(db, "imports", {"key": str, "name": str, "position": str, "done": int, "updated": str}, pk="key")
    if _create(db, "backfills", {"id": int, "source": str, "archive": str, "since": str, "until": str,
                                 "started": str, "finished": str, "outcome": str, "counts": str}, pk="id"):
        db["backfills"].create_index(["source"])
    # Every capture fetched (or judged not worth fetching again): a resumed backfill never
    # fetches one twice.
    _create(db, "backfill_captures", {"archive": str, "url_key": str, "timestamp": str, "done": str},
            pk=("archive", "url_key", "timestamp"))


@migration("007_versions")
def _versions(db) -> None:
    # Earlier captures of an article: what it said before the outlet changed it.
    if _create(db, "article_versions", {"id": int, "article_id": int, "captured_at": str, "superseded_at": str,
                                        **{k: ARTICLE_COLUMNS[k] for k in VERSION_FIELDS}},
               pk="id", foreign_keys=[("article_id", "articles", "id")]):
        db["article_versions"].create_index(["article_id"])
    if _create(db, "version_pages", {**RAW_PAGE, "version_id": int, **PAGE_PROVENANCE}, pk="id",
               foreign_keys=[("version_id", "article_versions", "id")]):
        db["version_pages"].create_index(["version_id", "page_no"], unique=True)
    _add_columns(db, "version_pages", PAGE_PROVENANCE)


@migration("008_source_settings")
def _source_settings(db) -> None:
    # The whole registry entry a source was crawled with (JSON), so re-extraction without that
    # registry keeps its timezone, language and extraction hints.
    _add_columns(db, "sources", {"settings": str})
    # Superseded by the migrations table.
    if "meta" in db.table_names():
        db.execute("delete from meta where key = 'schema_version'")


@migration("009_summary_index")
def _summary_index(db) -> None:
    # The columns a search page counts (facets, stories, timeline) for thousands of matches at
    # once: read from this narrow index instead of the wide article rows (2x faster at 10^5).
    db["articles"].create_index(["id", "source", "language", "group_id", "published"],
                                index_name="idx_articles_summary", if_not_exists=True)


def upgrade(db) -> list[str]:
    """Apply the pending migrations (the caller holds the write lock); returns their names."""
    pending = [m.name for m in MIGRATIONS.pending(db)]
    if pending:
        MIGRATIONS.apply(db)
    return pending


def newer_than_this(db) -> list[str]:
    """Migrations an archive has that this ccnews does not know: it was made by a newer one."""
    return [m.name for m in MIGRATIONS.applied(db) if m.name not in NAMES]
