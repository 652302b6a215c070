"""The Whoosh full-text index, derived from the archive: schema, sync and search.

Every Whoosh call of ccnews is in this package, so the engine can be swapped.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from whoosh import highlight, index, query as wq
from whoosh.analysis import CharsetFilter, LowercaseFilter, RegexTokenizer
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.index import EmptyIndexError, LockError
from whoosh.qparser import AndGroup, MultifieldParser
from whoosh.support.charset import accent_map

from archive import Archive

INDEX_DIR = "index"
# Bump when the schema or analysis changes: an index of another version must be rebuilt.
INDEX_VERSION = 1
VERSION_FILE = "ccnews-index.json"
BATCH = 2000
LOCK_WAIT_S = 60.0

SEARCH_FIELDS = ["title", "text"]
FIELD_ALIASES = {"lang": "language", "tag": "tags", "author": "authors"}
QUERY_FIELDS = {"title", "text", "source", "language", "authors", "tags", "url"}


class IndexProblem(Exception):
    """A problem with the index or a query, to be shown as one line."""


class QueryError(IndexProblem):
    """The query cannot be understood."""


def analyzer():
    # Words and numbers, lowercased, accents folded ("café" finds "cafe"); no stop words, so that
    # phrases keep every word. Language-specific stemming belongs here.
    return RegexTokenizer(r"\w+(?:[.'’]\w+)*") | LowercaseFilter() | CharsetFilter(accent_map)


def schema() -> Schema:
    ana = analyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        source=ID(stored=True),
        url=STORED(),
        title=TEXT(analyzer=ana, stored=True, field_boost=2.0, phrase=True),
        text=TEXT(analyzer=ana, stored=False, phrase=True),
        published=DATETIME(stored=True, sortable=True),
        language=ID(stored=True),
        authors=KEYWORD(commas=True, lowercase=True, scorable=True),
        tags=KEYWORD(commas=True, lowercase=True, scorable=True),
    )


def index_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / INDEX_DIR


def _utc_naive(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def _document(row: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "id": str(row["id"]),
        "source": row["source"],
        "url": row["url"],
        "title": row.get("title") or "",
        "text": row.get("text") or "",
        "language": row.get("language") or "",
        "authors": ",".join(json.loads(row.get("authors") or "[]")),
        "tags": ",".join(json.loads(row.get("tags") or "[]")),
    }
    published = _utc_naive(row.get("published"))
    if published:
        doc["published"] = published
    return doc


def _write_version(path: Path) -> None:
    (path / VERSION_FILE).write_text(json.dumps({"version": INDEX_VERSION}))


def _damaged(path: Path, exc: BaseException) -> IndexProblem:
    return IndexProblem(f"the search index at {path} is damaged ({type(exc).__name__}): run `ccnews reindex` to rebuild it")


# Whoosh reports a truncated or corrupt segment file through many unrelated exception types.
_CORRUPTION = (EmptyIndexError, index.IndexError, struct.error, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError)


def open_index(data_dir: str | Path, *, create: bool = False):
    path = index_dir(data_dir)
    # Not index.exists_in(): it opens the index and raises on a damaged table of contents.
    if not (path.is_dir() and any(path.glob("_MAIN_*.toc"))):
        if not create:
            raise IndexProblem(f"no search index at {path}: run `ccnews reindex` to build it from the archive")
        path.mkdir(parents=True, exist_ok=True)
        ix = index.create_in(str(path), schema())
        _write_version(path)
        return ix
    try:
        version = json.loads((path / VERSION_FILE).read_text()).get("version")
    except (OSError, ValueError):
        version = None
    if version != INDEX_VERSION:
        raise IndexProblem(f"the search index at {path} was built by another version of ccnews: run `ccnews reindex`")
    try:
        return index.open_dir(str(path))
    except _CORRUPTION as exc:
        raise _damaged(path, exc) from exc


def _writer(ix):
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            # compound=False: segment files are opened in place, not copied into memory at every
            # searcher open (a 300x faster open on large indexes).
            return ix.writer(limitmb=256, compound=False)
        except LockError:
            if time.monotonic() > deadline:
                raise IndexProblem("the search index is locked by another ccnews process; try again when it finishes") from None
            time.sleep(0.2)


def sync(archive: Archive, data_dir: str | Path, progress: Callable[[int], None] | None = None) -> int:
    """Index every article the index has not seen in its current state; returns how many.

    Articles are flagged in the archive only after the index commit, so a crash in between
    re-indexes them next time (update_document is idempotent) rather than losing them.
    """
    ix = open_index(data_dir, create=True)
    total = 0
    for batch in archive.unindexed(BATCH):
        writer = _writer(ix)
        try:
            for row in batch:
                writer.update_document(**_document(row))
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        archive.mark_indexed([(r["id"], r["content_hash"]) for r in batch])
        total += len(batch)
        if progress:
            progress(total)
    return total


def rebuild(archive: Archive, data_dir: str | Path, progress: Callable[[int], None] | None = None) -> int:
    """A fresh index built beside the old one and swapped in, so searches work throughout."""
    final = index_dir(data_dir)
    fresh = Path(data_dir) / (INDEX_DIR + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    ix = index.create_in(str(fresh), schema())
    _write_version(fresh)
    ids = archive.article_ids()
    done = 0
    hashes: list[tuple[int, str]] = []
    writer = ix.writer(limitmb=512, compound=False)
    for start in range(0, len(ids), BATCH):
        rows = archive.get_articles(ids[start : start + BATCH])
        for row in rows.values():
            writer.add_document(**_document(row))
            hashes.append((row["id"], row["content_hash"]))
        done += len(rows)
        if progress:
            progress(done)
    writer.commit()
    old = Path(data_dir) / (INDEX_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    fresh.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    archive.mark_indexed(hashes)
    return done


def doc_count(data_dir: str | Path) -> int:
    ix = open_index(data_dir)
    try:
        return ix.doc_count()
    except _CORRUPTION as exc:
        raise _damaged(index_dir(data_dir), exc) from exc


# -- search ------------------------------------------------------------------------------------


@dataclass
class Filters:
    sources: tuple[str, ...] = ()
    since: datetime | None = None  # aware
    until: datetime | None = None
    language: str | None = None


@dataclass
class Hit:
    id: int
    score: float | None
    source: str
    title: str
    url: str
    published: datetime | None
    language: str
    snippet: str = ""


def _check_syntax(text: str) -> None:
    if text.count('"') % 2:
        raise QueryError('unbalanced quote in query: close the "phrase"')
    depth = 0
    for ch in re.sub(r'"[^"]*"', "", text):
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            raise QueryError("unbalanced parenthesis in query: ')' without '('")
    if depth:
        raise QueryError("unbalanced parenthesis in query: '(' without ')'")
    words = re.sub(r'"[^"]*"', " x ", text).replace("(", " ").replace(")", " ").split()
    if words and (words[0] in ("AND", "OR") or words[-1] in ("AND", "OR", "NOT")):
        op = words[0] if words[0] in ("AND", "OR") else words[-1]
        raise QueryError(f"{op} needs a word on each side (to search for the word itself, write it in lowercase)")
    for field in re.findall(r'(?:^|[\s(])(\w+):', re.sub(r'"[^"]*"', "", text)):
        name = FIELD_ALIASES.get(field.lower(), field.lower())
        if name not in QUERY_FIELDS:
            raise QueryError(f"unknown field {field!r} in query; fields: {', '.join(sorted(QUERY_FIELDS))}")


def parse_query(text: str, ix=None):
    text = (text or "").strip()
    if not text:
        return wq.Every()
    if len(text) > 2000:
        raise QueryError("query too long (2,000 characters at most)")
    _check_syntax(text)
    for alias, name in FIELD_ALIASES.items():
        text = re.sub(rf"(?i)(^|[\s(]){alias}:", rf"\1{name}:", text)
    parser = MultifieldParser(SEARCH_FIELDS, schema=ix.schema if ix else schema(), group=AndGroup)
    try:
        q = parser.parse(text)
    except Exception as exc:  # noqa: BLE001 - whoosh's parser raises a variety of types
        raise QueryError(f"cannot parse query {text!r}: {exc}") from None
    if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
        raise QueryError(f"query {text!r} has no words to search for")
    return q


def _filter_query(filters: Filters):
    parts = []
    if filters.sources:
        parts.append(wq.Or([wq.Term("source", s) for s in filters.sources]))
    if filters.since or filters.until:
        start = filters.since.astimezone(timezone.utc).replace(tzinfo=None) if filters.since else None
        end = filters.until.astimezone(timezone.utc).replace(tzinfo=None) if filters.until else None
        parts.append(wq.DateRange("published", start, end))
    if filters.language:
        parts.append(wq.Term("language", filters.language))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


class _Marker(highlight.Formatter):
    """Matched words as **word**: readable as plain text, rendered bold in tables."""

    between = " … "

    def format_token(self, text, token, replace=False):
        return f"**{highlight.get_text(text, token, replace)}**"


def search(
    data_dir: str | Path,
    text: str,
    filters: Filters | None = None,
    *,
    limit: int = 20,
    sort: str = "relevance",
    archive: Archive | None = None,
    snippets: bool = True,
) -> list[Hit]:
    """Articles matching `text` and `filters`, best first (or newest first with sort='date')."""
    filters = filters or Filters()
    ix = open_index(data_dir)
    q = parse_query(text, ix)
    try:
        with ix.searcher() as searcher:
            kwargs: dict[str, Any] = {"limit": limit, "filter": _filter_query(filters), "terms": True}
            if sort == "date":
                kwargs.update(sortedby="published", reverse=True)
            results = searcher.search(q, **kwargs)
            results.fragmenter = highlight.ContextFragmenter(maxchars=220, surround=60)
            results.formatter = _Marker()
            hits = [
                Hit(
                    id=int(r["id"]), score=None if sort == "date" else round(r.score, 4),
                    source=r["source"], title=r.get("title") or "", url=r["url"],
                    published=r.get("published"), language=r.get("language") or "",
                )
                for r in results
            ]
            if snippets and archive is not None and hits:
                rows = archive.get_articles([h.id for h in hits])
                for hit, r in zip(hits, results):
                    body = (rows.get(hit.id) or {}).get("text") or ""
                    hit.snippet = _snippet(r, body)
    except _CORRUPTION as exc:
        raise _damaged(index_dir(data_dir), exc) from exc
    return hits


def _snippet(result, body: str) -> str:
    try:
        marked = result.highlights("text", text=body, top=2)
    except Exception:  # noqa: BLE001 - highlighting must never cost the user the results
        marked = ""
    if not marked:
        marked = " ".join(body.split())[:200]
    return " ".join(marked.split())


def matching_ids(data_dir: str | Path, text: str, filters: Filters | None = None, sort: str = "relevance") -> Iterator[int]:
    """Ids of every matching article, for export."""
    for hit in search(data_dir, text, filters, limit=None, sort=sort, snippets=False):  # type: ignore[arg-type]
        yield hit.id
