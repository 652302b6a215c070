"""The Whoosh full-text index, derived from the archive: schema, sync and search.

Every Whoosh call of ccnews is in this package, so the engine can be swapped.
"""

from __future__ import annotations

import calendar
import heapq
import json
import os
import re
import shutil
import struct
import sys
import threading
import time
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from whoosh import highlight, index
from whoosh import query as wq
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.index import EmptyIndexError, LockError
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.qparser import AndGroup, MultifieldParser
from whoosh.system import pack_uint

from archive import Archive
from archive.cpu import stage
from archive.errors import CcnewsError
from archive.processes import die_with_parent
from indexer import scoring
from indexer.analysis import (
    INDONESIAN,
    MARKS,
    NAME_MARK,
    NO_STEM,
    STEM_MARK,
    exact_analyzer,
    highlight_analyzer,
    pair,
    pair_counts,
    pairs_analyzer,
    stem,
    stop_words,
    word_positions,
)
from indexer.codec import Codec, SegmentWriter

INDEX_DIR = "index"
# Bump when the schema or analysis changes: an index of another version must be rebuilt.
INDEX_VERSION = 11
# Versions this one reads as they are: 10 differs only in its posting blocks (Whoosh's layout,
# which indexer.codec still reads); a write marks the index 11, so an older ccnews asks for a
# rebuild instead of failing on a split block.
READABLE_VERSIONS = (10, 11)
VERSION_FILE = "ccnews-index.json"
BATCH = 2000
REBUILD_CHUNK = 100_000
MP_MIN = 5000  # below this many articles, starting writer processes costs more than it saves
LOCK_WAIT_S = 60.0

SEARCH_FIELDS = ["title", "text"]
PAIRS = {"title": "title_pairs", "text": "text_pairs"}
FIELD_ALIASES = {"lang": "language", "tag": "tags", "author": "authors"}
QUERY_FIELDS = {"title", "text", "source", "language", "authors", "tags", "url", "city", "field"}
# A word written with a capital inside sentences at least this often is taken for a name, not
# stemmed at query time ("pemalang" must not become "malang").
PROPER_SHARE = 0.5


class IndexProblem(CcnewsError):
    """A problem with the index or a query, to be shown as one line."""


class QueryError(IndexProblem):
    """The query cannot be understood."""


class _Words(TEXT):
    """A text field of words with positions, and the marked stems of Indonesian words beside them
    (`word_positions`). The text's analysis is shared with its pairs field, and terms are counted
    without Whoosh's per-token objects; queries and highlighting use the analyzer, which yields the
    same words."""

    def index(self, value, **kwargs):
        boost, encode = self.format.field_boost, self.format.encode
        for term, positions in word_positions(value).items():
            yield term.encode("utf-8"), len(positions), len(positions) * boost, encode(positions)


class _Pairs(TEXT):
    """Adjacent word pairs (`pair_counts`): a phrase is looked up, not assembled from positions."""

    def index(self, value, **kwargs):
        boost = self.format.field_boost
        for term, count in pair_counts(value).items():
            yield term.encode("utf-8"), count, count * boost, pack_uint(count)


def schema() -> Schema:
    """The index schema."""
    exact = exact_analyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        source=ID(stored=True),
        url=STORED(),
        # One field per text: its words, for words and phrases, with their stems beside them.
        title=_Words(analyzer=exact, stored=True, field_boost=2.0, phrase=True),
        text=_Words(analyzer=exact, phrase=True, spelling=True),
        # Adjacent word pairs: a phrase is looked up, not assembled from positions.
        title_pairs=_Pairs(analyzer=pairs_analyzer(), field_boost=2.0, phrase=False),
        text_pairs=_Pairs(analyzer=pairs_analyzer(), phrase=False),
        published=DATETIME(stored=True, sortable=True),
        # Minutes since 1970 for date ranges: a 32-bit trie splits a range into tens of terms,
        # where the 64-bit microsecond DATETIME needs hundreds.
        minute=NUMERIC(int, bits=32, signed=True),
        language=ID(stored=True),
        # Words, so `authors:somchai` finds "Somchai Wongsa" and "somchai wongsa" is a phrase.
        authors=TEXT(analyzer=exact, phrase=True),
        tags=KEYWORD(commas=True, lowercase=True, scorable=True),
        city=KEYWORD(commas=True, lowercase=True, stored=True),
        field=KEYWORD(commas=True, lowercase=True, stored=True),
        relevance=NUMERIC(float, stored=True),
        group=NUMERIC(int, stored=True, sortable=True),
        # The archive id as a column: the ids of every match are read from it without loading
        # each document's stored fields (30x faster for the facets and timeline of a query).
        article=NUMERIC(int, bits=32, sortable=True),
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
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _document(row: dict[str, Any]) -> dict[str, Any]:
    mark = "" if (row.get("language") or "id") in INDONESIAN else NO_STEM
    # The same string objects in both fields of a text: it is analysed once (`scan`'s cache).
    title, text = mark + (row.get("title") or ""), mark + (row.get("text") or "")
    doc = {
        "id": str(row["id"]),
        "source": row["source"],
        "url": row["url"],
        "title": title,
        "text": text,
        "title_pairs": title,
        "text_pairs": text,
        "language": row.get("language") or "",
        "authors": ",".join(json.loads(row.get("authors") or "[]")),
        "tags": ",".join(json.loads(row.get("tags") or "[]")),
        "city": ",".join(json.loads(row.get("cities") or "[]")),
        "field": ",".join(json.loads(row.get("fields") or "[]")),
        "relevance": float(row.get("relevance") or 0.0),
        "group": int(row.get("group_id") or row["id"]),
        "article": int(row["id"]),
    }
    published = _utc_naive(row.get("published"))
    if published:
        doc["published"] = published
        doc["minute"] = _minute(published)
    return doc


def _minute(dt: datetime) -> int:
    """Minutes since 1970 of a naive UTC datetime."""
    return int(calendar.timegm(dt.timetuple()) // 60)


def _write_version(path: Path, latest: datetime | None = None) -> None:
    meta = {"version": INDEX_VERSION}
    if latest is not None:
        meta["latest"] = latest.isoformat()
    tmp = path / (VERSION_FILE + ".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, path / VERSION_FILE)


def _version(path: Path) -> int | None:
    try:
        return json.loads((path / VERSION_FILE).read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def _latest(path: Path) -> datetime | None:
    """The newest publication date indexed (never older than the truth: it is recorded before each
    commit), where date-sorted searches start looking back from."""
    try:
        value = json.loads((path / VERSION_FILE).read_text()).get("latest")
        return datetime.fromisoformat(value) if value else None
    except (OSError, ValueError):
        return None


def _note_latest(path: Path, docs: list[dict[str, Any]]) -> None:
    newest = max((d["published"] for d in docs if d.get("published")), default=None)
    current = _latest(path)
    if newest is not None and (current is None or newest > current):
        _write_version(path, newest)


def _damaged(path: Path, exc: BaseException) -> IndexProblem:
    """The one-line "damaged, run reindex" problem, for damage only: an error raised by our own
    code (a KeyError, a TypeError...) is re-raised as it is, a bug to see, not a rebuild to run."""
    if not _is_damage(exc):
        raise exc
    return IndexProblem(
        f"the search index at {path} is damaged ({type(exc).__name__}): run `ccnews reindex` to rebuild it"
    )


# Whoosh reports a truncated or corrupt segment file through many unrelated exception types; the
# generic ones (ValueError, KeyError, TypeError, AttributeError) mean damage only when Whoosh raised
# them while reading its files.
_READ_ERRORS = (EmptyIndexError, index.IndexError, struct.error, zlib.error, EOFError, OSError)
_CORRUPTION = (*_READ_ERRORS, ValueError, KeyError, TypeError, AttributeError)


def _is_damage(exc: BaseException) -> bool:
    if isinstance(exc, _READ_ERRORS):
        return True
    tb, where = exc.__traceback__, ""
    while tb is not None:
        where, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    return f"{os.sep}whoosh{os.sep}" in where


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
    if _version(path) not in READABLE_VERSIONS:
        raise IndexProblem(f"the search index at {path} was built by another version of ccnews: run `ccnews reindex`")
    try:
        return index.open_dir(str(path))
    except _CORRUPTION as exc:
        raise _damaged(path, exc) from exc


def _writer(ix, limitmb: int = 32):
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            # compound=False: segment files are opened in place, not copied into memory at every
            # searcher open (a 300x faster open on large indexes).
            # 32 MB of postings (Whoosh's estimate) before they are sorted to a temporary file:
            # the indexer runs beside a crawl, whose memory must stay bounded; with the chunked
            # pool, 64 cost the same CPU and 28 MB more at 10,000 articles.
            writer = SegmentWriter(ix, limitmb=limitmb, compound=False, codec=Codec())
            path = Path(ix.storage.folder)
            if _version(path) != INDEX_VERSION:
                _write_version(path, _latest(path))  # it will hold this version's blocks
            return writer
        except LockError:
            if time.monotonic() > deadline:
                raise IndexProblem(
                    "the search index is locked by another ccnews process; try again when it finishes"
                ) from None
            time.sleep(0.2)


class IndexBusy(IndexProblem):
    """Another ccnews process is writing the index (a rebuild, another crawl's indexer)."""


LOCK_FILE = "index.lock"


@contextmanager
def index_lock(data_dir: str | Path, wait: float = LOCK_WAIT_S) -> Iterator[None]:
    """The one writer of a data directory's index, across processes.

    Whoosh's own lock lives inside the index folder, which a rebuild replaces: an indexer beside a
    crawl then wrote into the folder being swapped out, and flagged articles as indexed that the
    new index never held. This lock sits beside the folder, so a rebuild and every incremental
    writer take turns.
    """
    import fcntl

    path = Path(data_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexBusy("the search index is being written by another ccnews process (a reindex?); "
                                    "try again when it finishes") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # releases the lock


MERGE_FACTOR = 10
MAX_MERGE_DOCS = 200_000


def _merge_tiers(writer, segments):
    """Whoosh's merge policy for each commit, tiered (Lucene's log merge): segments are grouped by
    size in powers of MERGE_FACTOR, and a group is merged into one when it holds MERGE_FACTOR
    segments, so each article is rewritten about once per tier. Whoosh's own policy merged most
    of the index again every few commits: at 10,000 articles, committed 200 at a time, that cost
    three times the indexing itself. A segment that has lost half its articles to updates is
    merged with its group at the next commit. No commit merges more than MAX_MERGE_DOCS articles
    (Lucene's largest merged segment): a bulk rebuild of 10^6 articles leaves 20 segments of
    50,000, which the first commit of the next crawl would otherwise merge into one, some twenty
    minutes of the crawl's indexer; `ccnews reindex --merge` merges them on demand."""
    tiers: dict[int, list] = {}
    for seg in segments:
        count, tier = max(seg.doc_count_all(), 1), 0
        while count >= MERGE_FACTOR ** (tier + 1) * 100:
            tier += 1
        tiers.setdefault(tier, []).append(seg)
    kept = []
    for group in tiers.values():
        full = len(group) >= MERGE_FACTOR or any(seg.doc_count() * 2 < seg.doc_count_all() for seg in group)
        if full and sum(seg.doc_count() for seg in group) <= MAX_MERGE_DOCS:
            _merge_all(writer, group)
        else:
            kept += group
    return kept


def _merge_all(writer, segments):
    """Whoosh's merge policy that merges `segments` into the writer's new segment, read block-wise."""
    for seg in segments:
        writer.merge_segment(seg)
    return []


def merge(data_dir: str | Path) -> tuple[int, int]:
    """Merge every segment of the index into one (`ccnews reindex --merge`): a search looks each
    of its terms up in every segment. Returns the number of segments before and after."""
    with index_lock(data_dir):
        ix = open_index(data_dir)
        try:
            before = len(ix._segments())
            if before > 1:
                writer = _writer(ix, limitmb=256)
                try:
                    writer.commit(mergetype=_merge_all)
                except BaseException:
                    writer.cancel()
                    raise
            return before, len(open_index(data_dir)._segments())
        except _CORRUPTION as exc:
            raise _damaged(index_dir(data_dir), exc) from exc


def catch_up(archive: Archive, data_dir: str | Path, *, upto: int | None = None, wait: float = LOCK_WAIT_S,
             index: bool = True) -> tuple[int, int]:
    """After articles were archived or changed: group copies, then index (grouped first, or a copy
    would be indexed as a story of its own). Returns (regrouped, indexed). The one way every
    writer (a crawl's indexer process, the Redis writer, import, backfill, re-extraction) does it."""
    from archive.copies import group_copies

    regrouped = group_copies(archive)
    return regrouped, sync(archive, data_dir, upto=upto, wait=wait) if index else 0


def sync(archive: Archive, data_dir: str | Path, progress: Callable[[int], None] | None = None,
         upto: int | None = None, wait: float = LOCK_WAIT_S) -> int:
    """Index every article the index has not seen in its current state; returns how many.

    Articles are flagged in the archive only after the index commit, so a crash in between
    re-indexes them next time (update_document is idempotent) rather than losing them; both happen
    under the index lock, so the index that was written is the one searches open.
    """
    total = 0
    with index_lock(data_dir, wait):
        ix = open_index(data_dir, create=True)
        for batch in archive.unindexed(BATCH, upto):
            writer = _writer(ix)
            try:
                with stage("index: analyse and add"):
                    docs = [_document(row) for row in batch]
                    _replace(writer, docs)
                with stage("index: commit"):
                    _note_latest(index_dir(data_dir), docs)  # under the writer's lock
                    writer.commit(mergetype=_merge_tiers)
            except BaseException:
                writer.cancel()
                raise
            with stage("index: flag in archive"):
                archive.mark_indexed([(r["id"], r["content_hash"], r["group_id"]) for r in batch])
            total += len(batch)
            if progress:
                progress(total)
    return total


def _replace(writer, docs: list[dict[str, Any]]) -> None:
    """Add `docs`, deleting the earlier entries of the same articles first, through one searcher
    for the batch (Whoosh's update_document opens one per document: the segments' readers each
    time)."""
    with writer.searcher() as searcher:
        for doc in docs:
            for docnum in searcher.document_numbers(id=doc["id"]):
                writer.delete_document(docnum)
    for doc in docs:
        writer.add_document(**doc)


def verify(archive: Archive, data_dir: str | Path, repair: bool = True) -> dict[str, int]:
    """Compare the archive with the index: articles flagged indexed that the index lacks, and index
    entries of articles the archive no longer has. With `repair`, index the first and remove the
    second. Returns the counts found (and `indexed`, how many were indexed by the repair)."""
    with index_lock(data_dir):
        ix = open_index(data_dir, create=True)
        try:
            with ix.searcher() as searcher:
                in_index = {int(fields["id"]) for fields in searcher.reader().all_stored_fields()}
        except _CORRUPTION as exc:
            raise _damaged(index_dir(data_dir), exc) from exc
        flagged = {r[0] for r in archive.db.execute("select id from articles where indexed = 1")}
        archived = {r[0] for r in archive.db.execute("select id from articles")}
        missing = sorted(flagged - in_index)
        extra = sorted(in_index - archived)
        behind = archive.count_unindexed()
        if repair and extra:
            writer = _writer(ix)
            for article_id in extra:
                writer.delete_by_term("id", str(article_id))
            writer.commit()
        if repair and missing:
            with archive.transaction():
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    archive.db.execute(
                        f"update articles set indexed = 0 where id in ({','.join('?' * len(chunk))})", chunk
                    )
    indexed = sync(archive, data_dir) if repair else 0
    return {"missing": len(missing), "extra": len(extra), "behind": behind, "indexed": indexed}


class _OrphanProofTask(SubWriterTask):
    """A writer process of a bulk rebuild that the kernel stops when the rebuild's process dies.
    Whoosh forks these; killed hard, a rebuild otherwise left them running (and writing)."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.parent = os.getpid()

    def run(self) -> None:
        import whoosh.multiproc

        die_with_parent(self.parent)
        whoosh.multiproc.SegmentWriter = SegmentWriter  # in this writer process only: the chunked pool
        super().run()


class _MpWriter(MpWriter):
    def cancel(self):
        """Whoosh's cancel only flags its tasks in this process: the writer processes, waiting for
        their next job, kept an interrupted rebuild waiting for them at exit, for ever."""
        for task in self.tasks:
            if task.is_alive():
                task.terminate()
        for task in self.tasks:
            task.join(5)
        super().cancel()

    def _new_task(self):
        task = _OrphanProofTask(self.storage, self.indexname, self.jobqueue, self.resultqueue, self.subargs,
                                self.multisegment)
        self.tasks.append(task)
        task.start()
        return task


def rebuild(archive: Archive, data_dir: str | Path, progress: Callable[[int], None] | None = None) -> int:
    """A fresh index built beside the old one and swapped in, so searches work throughout; no
    other writer touches the index meanwhile (articles archived during the rebuild are indexed by
    the next `sync`)."""
    with index_lock(data_dir):
        return _rebuild(archive, data_dir, progress)


def _rebuild(archive: Archive, data_dir: str | Path, progress: Callable[[int], None] | None) -> int:
    final = index_dir(data_dir)
    fresh = Path(data_dir) / (INDEX_DIR + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    ix = index.create_in(str(fresh), schema())
    _write_version(fresh)
    ids = archive.article_ids()
    done = 0
    hashes: list[tuple[int, str, int | None]] = []
    latest: datetime | None = None
    # Bulk: one writer process per core, each leaving its own segment (merging them afterwards
    # would cost as much again as the build; searches read a few segments at no real cost).
    # A commit every REBUILD_CHUNK articles bounds Whoosh's sort files on disk (about 70 KB per
    # article until the commit merges them).
    procs = min(os.cpu_count() or 1, 4) if len(ids) >= MP_MIN else 1
    writer, in_writer = None, 0
    try:
        for start in range(0, len(ids), BATCH):
            if writer is None:
                if procs > 1:
                    writer = _MpWriter(ix, procs=procs, multisegment=True, limitmb=256, compound=False,
                                       codec=Codec())
                else:
                    writer = SegmentWriter(ix, limitmb=256, compound=False, codec=Codec())
                in_writer = 0
            rows = archive.get_articles(ids[start : start + BATCH])
            for row in rows.values():
                doc = _document(row)
                writer.add_document(**doc)
                hashes.append((row["id"], row["content_hash"], row["group_id"]))
                if doc.get("published") and (latest is None or doc["published"] > latest):
                    latest = doc["published"]
            done += len(rows)
            in_writer += len(rows)
            if progress:
                progress(done)
            if in_writer >= REBUILD_CHUNK:
                writer.commit(merge=False)
                writer = None
        _write_version(fresh, latest)
        if writer is not None:
            writer.commit(merge=False)
            writer = None
    except BaseException:  # Ctrl-C, a full disk: the index in use stays; the half-built one goes
        if writer is not None:
            with suppress(Exception):  # the cause is what the user must see
                writer.cancel()
        shutil.rmtree(fresh, ignore_errors=True)
        raise
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


# -- queries -----------------------------------------------------------------------------------


@dataclass
class Filters:
    sources: tuple[str, ...] = ()
    since: datetime | None = None  # aware
    until: datetime | None = None
    language: str | None = None
    cities: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    min_relevance: float | None = None


@dataclass
class Hit:
    id: int
    score: float | None
    source: str
    title: str
    url: str
    published: datetime | None
    language: str
    group: int
    cities: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    relevance: float = 0.0
    snippet: str = ""
    copies: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Results:
    hits: list[Hit]
    total: int
    suggestion: str | None = None


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
    bare = re.search(r'(?:^|[\s(])(\w+):(?=$|[\s)])', re.sub(r'"[^"]*"', "x", text))
    if bare:
        raise QueryError(f"{bare[1]}: needs a value right after the colon ({bare[1]}:word or {bare[1]}:\"two words\")")
    for name in re.findall(r'(?:^|[\s(])(\w+):', re.sub(r'"[^"]*"', "", text)):
        canonical = FIELD_ALIASES.get(name.lower(), name.lower())
        if canonical not in QUERY_FIELDS:
            raise QueryError(
                f"unknown field {name!r} in query; fields: {', '.join(sorted(QUERY_FIELDS | set(FIELD_ALIASES)))}"
            )


def parse_query(text: str, reader=None):
    """The Whoosh query for a user's query string (raises QueryError)."""
    text = (text or "").strip()
    if not text:
        return wq.Every()
    if len(text) > 2000:
        raise QueryError("query too long (2,000 characters at most)")
    _check_syntax(text)
    for alias, name in FIELD_ALIASES.items():
        text = re.sub(rf"(?i)(^|[\s(]){alias}:", rf"\1{name}:", text)
    parser = MultifieldParser(SEARCH_FIELDS, schema=schema(), group=AndGroup)
    try:
        q = parser.parse(text)
    except Exception as exc:  # noqa: BLE001 - whoosh's parser raises a variety of types
        raise QueryError(f"cannot parse query {text!r}: {exc}") from None
    if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
        raise QueryError(f"query {text!r} has no words to search for")
    return _transform(q, reader)


def _is_proper(word: str, reader) -> bool:
    """Whether Indonesian text mostly writes `word` as a name (kept unstemmed): the articles where
    it is written so (its NAME_MARK term) against those where it was stemmed (at most those of its
    marked stem)."""
    if reader is None:
        return False
    root = stem(word)
    if root == word:
        return False
    try:
        as_name = sum(reader.doc_frequency(f, NAME_MARK + word) for f in SEARCH_FIELDS)
        stemmed = sum(reader.doc_frequency(f, STEM_MARK + root) for f in SEARCH_FIELDS)
    except Exception:  # noqa: BLE001 - a reader of another schema: no opinion
        return False
    return as_name > 0 and as_name >= PROPER_SHARE * (as_name + stemmed)


def _tag_value(fieldname: str, value: str) -> str:
    """`field:crafts` and `city:เชียงใหม่` as --field and --city read them: the canonical name."""
    from archive.uccn import FIELDS, city_by_name, field_name

    if fieldname == "field":
        name = field_name(value)
        if name is None:
            raise QueryError(
                f"field:{value} is not a creative field ({', '.join(f.split()[0].lower() for f in FIELDS)})"
            )
    else:
        city = city_by_name(value)
        if city is None:
            raise QueryError(f"city:{value} is not a member city of the network")
        name = city.name
    return name.lower()


def _transform(q, reader):
    """Words search the stemmed fields (stem and word); phrases and stop words the exact fields."""
    if isinstance(q, (wq.Term, wq.Phrase)) and q.fieldname in ("field", "city"):
        value = q.text if isinstance(q, wq.Term) else " ".join(q.words)
        return wq.Term(q.fieldname, _tag_value(q.fieldname, value), boost=q.boost)
    if isinstance(q, wq.Phrase) and q.fieldname in SEARCH_FIELDS:
        return _phrase(q.fieldname, q.words, q.slop, q.boost)
    if isinstance(q, wq.Term) and q.fieldname in SEARCH_FIELDS:
        return _word(q.fieldname, q.text, q.boost, reader)
    if isinstance(q, wq.Prefix) and q.fieldname in SEARCH_FIELDS:
        return _Prefix(q.fieldname, q.text, boost=q.boost)
    if isinstance(q, wq.Wildcard) and q.fieldname in SEARCH_FIELDS:
        return _Wildcard(q.fieldname, q.text, boost=q.boost)
    if isinstance(q, wq.FuzzyTerm) and q.fieldname in SEARCH_FIELDS:
        return _Fuzzy(q.fieldname, q.text, boost=q.boost, maxdist=q.maxdist, prefixlength=q.prefixlength)
    if isinstance(q, wq.Not):
        return wq.Not(_transform(q.query, reader))
    if isinstance(q, wq.AndNot):
        return wq.AndNot(_transform(q.a, reader), _transform(q.b, reader))
    if isinstance(q, wq.AndMaybe):
        return wq.AndMaybe(_transform(q.a, reader), _transform(q.b, reader))
    if isinstance(q, wq.Every):
        # `*`: every article. Whoosh's Every of a field unions the postings of every term of that
        # field (seconds at 10^5); without a field it lists the documents.
        return wq.Every(boost=q.boost)
    if isinstance(q, wq.compound.CompoundQuery):
        subs = [_transform(sub, reader) for sub in q.subqueries]
        if isinstance(q, wq.Or) and any(type(sub) is wq.Every for sub in subs):
            return wq.Every(boost=q.boost)
        return q.__class__(subs, boost=q.boost)
    return q


def _word(fieldname: str, word: str, boost: float, reader):
    """A word: as written, and its stem where Indonesian text was stemmed (not for a word mostly
    written as a name: "pemalang" must not find "malang"), and the words stemmed to it."""
    if word in stop_words():  # never stemmed
        return wq.Term(fieldname, word, boost=boost)
    root = stem(word)
    forms = [word, STEM_MARK + word]
    if root != word and not _is_proper(word, reader):
        forms += [STEM_MARK + root, root]
    if reader is not None:  # forms the index does not hold cost a matcher each, for nothing
        held = [f for f in forms if _doc_frequency(reader, fieldname, f)]
        forms = held or [word]
    if len(forms) == 1:
        return wq.Term(fieldname, forms[0], boost=boost)
    return wq.Or([wq.Term(fieldname, f, boost=boost) for f in forms])


def _doc_frequency(reader, fieldname: str, term: str) -> int:
    try:
        return reader.doc_frequency(fieldname, term)
    except Exception:  # noqa: BLE001 - a reader of another schema: keep the term
        return 1


class _Unmarked:
    """Pattern and fuzzy queries expand to the words of the index, never to its marked terms."""

    def _btexts(self, ixreader):
        marks = tuple(m.encode("utf-8") for m in MARKS)
        return (b for b in super()._btexts(ixreader) if not b.startswith(marks))


class _Prefix(_Unmarked, wq.Prefix):
    pass


class _Wildcard(_Unmarked, wq.Wildcard):
    pass


class _Fuzzy(_Unmarked, wq.FuzzyTerm):
    pass


def _phrase(fieldname: str, words: list[str], slop: int, boost: float):
    """A phrase through the word-pair field: two words are one term; longer phrases intersect
    their pairs first and compare positions only where all the pairs occur."""
    if slop != 1 or len(words) < 2:
        return wq.Phrase(fieldname, words, slop=slop, boost=boost)
    pairs = [p for p in (pair(a, b) for a, b in zip(words, words[1:])) if p]
    if not pairs:  # rare words only: their short posting lists make positions quick to check
        return wq.Phrase(fieldname, words, slop=slop, boost=boost)
    terms = [wq.Term(PAIRS[fieldname], p, boost=boost) for p in pairs]
    if len(words) == 2:
        return terms[0]
    return wq.And([*terms, wq.ConstantScoreQuery(wq.Phrase(fieldname, words, slop=slop), 0.0)])


def _minute_range(start: datetime | None, end: datetime | None):
    """Articles published from `start` to `end` (naive UTC, to the minute)."""
    return wq.NumericRange("minute", _minute(start) if start else None, _minute(end) if end else None)


def _filter_query(filters: Filters):
    parts = []
    if filters.sources:
        parts.append(wq.Or([wq.Term("source", s) for s in filters.sources]))
    if filters.since or filters.until:
        start = filters.since.astimezone(UTC).replace(tzinfo=None) if filters.since else None
        end = filters.until.astimezone(UTC).replace(tzinfo=None) if filters.until else None
        parts.append(_minute_range(start, end))
    if filters.language:
        parts.append(wq.Term("language", filters.language))
    if filters.cities:
        parts.append(wq.Or([wq.Term("city", c.lower()) for c in filters.cities]))
    if filters.fields:
        parts.append(wq.Or([wq.Term("field", f.lower()) for f in filters.fields]))
    if filters.min_relevance is not None:
        parts.append(wq.NumericRange("relevance", filters.min_relevance, None))
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
    limit: int | None = 20,
    sort: str = "relevance",
    archive: Archive | None = None,
    snippets: bool = True,
    all_copies: bool = False,
) -> Results:
    """Articles matching `text` and `filters`, best first (or newest first with sort='date').

    Syndicated copies collapse into their group's best hit, with the others in `copies`, unless
    `all_copies`. `total` is exact when every match is listed (limit=None), else Whoosh's estimate.
    """
    filters = filters or Filters()
    try:
        with _searcher(data_dir) as searcher:
            q = parse_query(text, searcher.reader())
            restrict = _filter_query(filters)
            if (restrict is not None and (sort == "date" or not scoring.scorable(searcher))
                    and _estimate(searcher, restrict) < _estimate(searcher, q)):
                # A filter narrower than the words: intersecting walks its short posting list and
                # skips through the words' (filter= would test every match of the words; ranked by
                # relevance, `_ranked` reads the words only in the blocks holding its articles).
                q, restrict = wq.And([q, wq.ConstantScoreQuery(restrict, 0.0)]), None
            if sort == "date" and limit is not None:
                found = _newest(searcher, q, restrict, filters, limit, all_copies, _latest(index_dir(data_dir)))
            else:
                found = _best(searcher, q, restrict, limit, sort, all_copies)
            hits = [_hit(fields, score, sort) for fields, score in found]
            total = len(hits) if limit is None else max(len(hits), _estimate(searcher, q))
            if archive is not None and hits:
                rows = archive.get_articles([h.id for h in hits])
                terms = _highlight_terms(q) if snippets else {}
                copies = {}
                if not all_copies:
                    from archive.copies import copies_of_many

                    copies = copies_of_many(archive, [h.id for h in hits])
                for hit in hits:
                    row = rows.get(hit.id) or {}
                    hit.cities = json.loads(row.get("cities") or "[]")
                    hit.fields = json.loads(row.get("fields") or "[]")
                    if snippets:
                        hit.snippet = _snippet(terms, row.get("text") or "")
                    hit.copies = copies.get(hit.id, [])
            suggestion = None
            if not hits and text.strip():
                suggestion = _suggest(searcher, text)
    except _CORRUPTION as exc:
        _forget_warm(data_dir)
        raise _damaged(index_dir(data_dir), exc) from exc
    return Results(hits, total, suggestion)


# -- a searcher kept open --------------------------------------------------------------------------


class _Warm:
    """One searcher kept open by a long-running process (the web page): opening one costs little
    with compound=False, but a process that answers many queries should not pay it each time, nor
    Python's and Whoosh's start-up. It is reopened when the index has changed: a new commit (a
    crawl beside it) or a rebuilt index directory (`ccnews reindex`). Searches through it take
    turns (a Whoosh searcher is not made for several threads at once)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.lock = threading.Lock()
        self.searcher = None
        self.key: tuple[int, int] | None = None
        self.opens = 0

    def _key(self) -> tuple[int, int] | None:
        path = index_dir(self.data_dir)
        try:
            generations = [int(p.name[6:-4]) for p in path.glob("_MAIN_*.toc")]
            return (path.stat().st_ino, max(generations)) if generations else None
        except (OSError, ValueError):
            return None

    def current(self):
        key = self._key()
        if self.searcher is None or key is None or key != self.key:
            self.close()
            self.searcher = open_index(self.data_dir).searcher()
            self.key = key
            self.opens += 1
        return self.searcher

    def close(self) -> None:
        if self.searcher is not None:
            self.searcher.close()
            self.searcher = None


_WARM: dict[str, _Warm] = {}


def keep_warm(data_dir: str | Path) -> _Warm:
    """From now on, searches of `data_dir` in this process use one searcher kept open."""
    key = str(Path(data_dir).resolve())
    if key not in _WARM:
        _WARM[key] = _Warm(Path(data_dir))
    return _WARM[key]


def _forget_warm(data_dir: str | Path) -> None:
    warm = _WARM.get(str(Path(data_dir).resolve()))
    if warm is not None:
        with warm.lock:
            warm.close()


@contextmanager
def _searcher(data_dir: str | Path) -> Iterator[Any]:
    warm = _WARM.get(str(Path(data_dir).resolve())) if _WARM else None
    if warm is None:
        with open_index(data_dir).searcher() as searcher:
            yield searcher
        return
    with warm.lock:
        yield warm.current()


def _hit(fields: dict[str, Any], score: float | None, sort: str) -> Hit:
    return Hit(
        id=int(fields["id"]), score=None if sort == "date" or score is None else round(score, 4),
        source=fields["source"], title=(fields.get("title") or "").removeprefix(NO_STEM), url=fields["url"],
        published=fields.get("published"), language=fields.get("language") or "",
        group=fields.get("group") or int(fields["id"]),
        cities=[c for c in (fields.get("city") or "").split(",") if c],
        fields=[f for f in (fields.get("field") or "").split(",") if f],
        relevance=fields.get("relevance") or 0.0,
    )


def _estimate(searcher, q) -> int:
    try:
        return int(q.estimate_size(searcher.reader()))
    except Exception:  # noqa: BLE001 - an estimate is optional
        return 0


def _best(searcher, q, restrict, limit: int | None, sort: str, all_copies: bool) -> list[tuple[dict, float | None]]:
    """Top `limit` matches (all with None), best first, one per copy group unless `all_copies`.

    Whoosh's own collapse and terms collectors visit every match; a plain top-N search lets it
    skip posting blocks that cannot reach the top (block-max), so copies are collapsed here on a
    few more hits than asked for. Filters go through `filter=`, which keeps that skipping.
    """
    if sort == "date":
        # Whoosh puts documents without the sort value first when reversing: dated ones first here.
        dated = wq.ConstantScoreQuery(wq.NumericRange("minute", MINUTE_MIN, MINUTE_MAX), 0.0)
        found = _best(searcher, wq.And([q, dated]), restrict, limit, "newest", all_copies)
        if limit is None or len(found) < limit:
            more = _best(searcher, wq.AndNot(q, dated), restrict, None if limit is None else limit - len(found),
                         "relevance", all_copies)
            seen = {int(f["id"]) for f, _ in found}
            found += [(f, s) for f, s in more if int(f["id"]) not in seen]
            found.sort(key=_newest_first, reverse=True)  # an original standing for an undated copy
        return found
    sortedby = "published" if sort == "newest" else None
    fetch = None if limit is None else (limit if all_copies else limit * 2 + 10)
    while True:
        found = _ranked(searcher, q, restrict, fetch, sortedby)
        if all_copies:
            return found
        kept = _collapse(searcher, q, restrict, found, limit)
        if sort == "newest":
            kept.sort(key=_newest_first, reverse=True)  # an original standing for a copy has its own date
        if fetch is None or len(kept) >= limit or len(found) < fetch:
            return kept
        fetch *= 4  # copies filled the extra hits: look further down


def _ranked(searcher, q, restrict, limit: int | None, sortedby: str | None = None) -> list[tuple[dict, float | None]]:
    """The best `limit` matches of `q` among the articles of `restrict` (newest first by
    `sortedby`), with their stored fields and scores.

    Ranked by relevance, they are scored by `scoring.top`, not by Whoosh's top-N collector: it
    replaces its matcher tree as its minimum score rises, and the replaced tree of an And of Ors
    (two words over title and text) loses matches that belong in the top (Whoosh issue 413).
    """
    if sortedby is not None:
        # Whoosh's sorting collector takes an AND's documents as the intersection of each part's
        # whole set, stepped one document at a time (1.7 s for a frequent word's newest month at
        # 10^6); here the narrowest part first, the others read only where it matched.
        docs = _docset(q if restrict is None else wq.And([q, restrict]), searcher)
        return [(searcher.stored_fields(d), key) for key, d in _sorted_by_column(searcher, docs, sortedby, limit)]
    if scoring.scorable(searcher):
        allow = None if restrict is None else _docset(restrict, searcher)
        return [(searcher.stored_fields(d), s) for d, s in scoring.top(searcher, q, limit, allow)]
    results = searcher.search(q, limit=limit, filter=restrict)
    return [(r.fields(), r.score) for r in results]


def _newest_first(hit: tuple[dict, float | None]) -> datetime:
    """The sort key of a hit by date (reversed: newest first, undated last, in their order)."""
    return hit[0].get("published") or datetime.min


def _collapse(searcher, q, restrict, found, want: int | None) -> list[tuple[dict, float | None]]:
    """One hit per copy group, in rank order; the group's original stands for it when the original
    matches too (a copy ranked higher leaves its place to it)."""
    seen: set[int] = set()
    kept: list[tuple[dict, float | None]] = []
    for fields, score in found:
        group = fields.get("group") or int(fields["id"])
        if group in seen:
            continue
        seen.add(group)
        if group != int(fields["id"]):
            original = _original_if_matching(searcher, q, restrict, group)
            if original is not None:
                fields, score = original
        kept.append((fields, score))
        if want is not None and len(kept) >= want:
            break
    return kept


def _original_if_matching(searcher, q, restrict, group: int) -> tuple[dict, float | None] | None:
    docnum = searcher.document_number(id=str(group))
    if docnum is None:
        return None
    found = _ranked(searcher, wq.And([wq.Term("id", str(group)), q]), restrict, 1)
    return found[0] if found else None


DATE_WINDOW = timedelta(days=31)
OLDEST = datetime(1900, 1, 1)
MINUTE_MIN, MINUTE_MAX = -(2**31), 2**31 - 1


def _newest(searcher, q, restrict, filters: Filters, limit: int, all_copies: bool,
            latest: datetime | None) -> list[tuple[dict, float | None]]:
    """The newest `limit` matches, looking back from the newest date in widening windows.

    Sorting every match by date visits them all (a second per 100,000 common-word matches); a
    window of recent dates intersected with the query skips straight to the recent postings.
    Undated articles come last, found by the final, unbounded search.
    """
    end = filters.until.astimezone(UTC).replace(tzinfo=None) if filters.until else latest
    if end is not None and latest is not None:
        end = min(end, latest)
    floor = filters.since.astimezone(UTC).replace(tzinfo=None) if filters.since else None
    if end is None:
        return _best(searcher, q, restrict, limit, "date", all_copies)
    span = DATE_WINDOW
    while end - span > OLDEST:
        start = end - span
        if floor is not None and start <= floor:
            break
        window = wq.And([q, wq.ConstantScoreQuery(_minute_range(start, end), 0.0)])
        found = _best(searcher, window, restrict, limit, "newest", all_copies)
        if len(found) >= limit:
            return found
        span *= 4
    return _best(searcher, q, restrict, limit, "date", all_copies)


def _suggest(searcher, text: str) -> str | None:
    """A corrected query from the index's own vocabulary, when it differs from `text`."""
    corrector = searcher.corrector("text")
    changed = False
    out = []
    for token in re.split(r"(\s+)", text):
        word = token.strip()
        if not word or not re.fullmatch(r"\w+", word) or word in ("AND", "OR", "NOT") or len(word) < 4:
            out.append(token)
            continue
        folded = word.lower()
        if searcher.reader().doc_frequency("text", folded) > 0:
            out.append(token)
            continue
        found = [w for w in corrector.suggest(folded, limit=4, maxdist=2) if not w.startswith(MARKS)]
        if found:
            out.append(found[0])
            changed = True
        else:
            out.append(token)
    return "".join(out) if changed else None


def _highlight_terms(q) -> dict[str, frozenset[str]]:
    terms: dict[str, set[str]] = {}
    for fieldname, word in q.all_terms():
        if fieldname == "text":
            terms.setdefault(fieldname, set()).add(word if isinstance(word, str) else word.decode("utf-8", "replace"))
    return {k: frozenset(v) for k, v in terms.items()}


def _highlight(body: str, terms: frozenset[str], analyzer) -> str:
    """Whoosh's highlight(), with the two best passages chosen the same way every time: its own
    top_fragments breaks ties between equally good passages by comparing the passage objects,
    which gave a different snippet in each process (by Python's hash seed)."""
    tokens = highlight.set_matched_filter(analyzer(body, chars=True, mode="query", removestops=False), terms)
    fragments = highlight.ContextFragmenter(maxchars=220, surround=60).fragment_tokens(body, tokens)
    scorer = highlight.BasicFragmentScorer()
    scored = [(scorer(f), f) for f in fragments]
    best = sorted((sf for sf in scored if sf[0] >= 1), key=lambda sf: (-sf[0], sf[1].startchar))[:2]
    return _Marker()(body, sorted((f for _s, f in best), key=lambda f: f.startchar))


def _snippet(terms: dict[str, frozenset[str]], body: str) -> str:
    marked = ""
    if terms.get("text"):
        try:
            marked = _highlight(body, terms["text"], highlight_analyzer(terms["text"]))
        except Exception:  # noqa: BLE001 - highlighting must never cost the user the results
            marked = ""
    if not marked:
        marked = " ".join(body.split())[:200]
    return " ".join(marked.split())


def matching_ids(data_dir: str | Path, text: str, filters: Filters | None = None, sort: str = "relevance",
                 all_copies: bool = True, ordered: bool = True) -> list[int]:
    """Ids of every matching article, for export and collections; best first (or newest first
    with sort='date'), or in no particular order, much faster, with `ordered=False` and
    `all_copies` (for counts: facets, timelines, collections)."""
    if not ordered and all_copies:
        return _unordered_ids(data_dir, text, filters or Filters())
    return [
        h.id for h in search(data_dir, text, filters, limit=None, sort=sort, snippets=False, all_copies=all_copies).hits
    ]


def _docset(q, searcher, only: set[int] | None = None) -> set[int]:
    """The documents matching `q`, unscored: AND, OR and AND NOT as set operations on their parts'
    documents (in C), where Whoosh's matchers would step through the intersection one document at
    a time in Python (4x slower for two words at 10^5); terms, patterns and ranges read a posting
    block at a time; any other query through its own matcher. With `only`, the result holds at
    least the matching documents of `only` (an AND's later parts are read only in the posting
    blocks that can hold its matches so far)."""
    if type(q) is wq.And and q.subqueries:
        reader = searcher.reader()
        found = only
        for sub in sorted(q.subqueries, key=lambda sub: sub.estimate_size(reader)):
            part = _docset(sub, searcher, found)
            found = part if found is None else found & part
            if not found:
                return set()
        return found
    if type(q) is wq.Or and q.minmatch <= 1:
        return set().union(*(_docset(sub, searcher, only) for sub in q.subqueries))
    if type(q) is wq.AndNot:
        found = _docset(q.a, searcher, only)
        return found - _docset(q.b, searcher, found) if found else found
    if type(q) is wq.ConstantScoreQuery:
        return _docset(q.child, searcher, only)
    if isinstance(q, wq.NumericRange):  # a union of its trie's term ranges
        return _docset(q._compile_query(searcher.reader()), searcher, only)
    found = None
    if type(q) is wq.Term and q.fieldname in searcher.schema:
        found = scoring.term_docs(searcher, q.fieldname, [searcher.schema[q.fieldname].to_bytes(q.text)], only)
    elif isinstance(q, wq.MultiTerm):  # a pattern, a fuzzy word, a range of terms
        found = scoring.term_docs(searcher, q.field(), list(q._btexts(searcher.reader())), only)
    return found if found is not None else set(q.docs(searcher))


def _sorted_by_column(searcher, docs: set[int], fieldname: str, limit: int | None) -> list[tuple[Any, int]]:
    """(value, document) of `docs`, greatest value first (ties: the later document first), as
    Whoosh's sorting collector orders them, from the column read whole per segment."""
    keyed: list[tuple[Any, int]] = []
    ordered = sorted(docs)
    for leaf, offset in searcher.leaf_searchers():
        end = offset + leaf.reader().doc_count_all()
        lo, hi = bisect_left(ordered, offset), bisect_left(ordered, end)
        if lo < hi:
            values = _column_values(leaf.reader(), fieldname, translate=False)
            keyed += [(values[d - offset], d) for d in ordered[lo:hi]]
    return heapq.nlargest(limit, keyed) if limit is not None else sorted(keyed, reverse=True)


def _article_ids(reader) -> Any:
    """A segment's `article` column (docnum -> archive id)."""
    return _column_values(reader, "article")


def _column_values(reader, fieldname: str, translate: bool = True) -> Any:
    """A segment's column of `fieldname` as one array, read in one go: Whoosh's own reader unpacks
    a value per call, a third of a search page's time at 10^5 articles for the `article` column.
    Cached on the reader, which lives as long as the (warm) searcher. Falls back to Whoosh's
    per-document reads if its column layout is not the one expected."""
    cache = reader.__dict__.setdefault("_ccnews_columns", {})
    if (fieldname, translate) in cache:
        return cache[fieldname, translate]
    from array import array

    field = reader.schema[fieldname]
    column = reader.column_reader(fieldname, translate=False)
    try:
        size = column._fixedlen * column._count
        values: Any = array(column._typecode, column._dbfile.get(column._basepos, size))
        if sys.byteorder == "little":
            values.byteswap()  # Whoosh writes columns big-endian
        values.extend([column._default] * (reader.doc_count_all() - column._count))
        if translate:
            values = [field.from_column_value(v) for v in values]
    except (AttributeError, TypeError, ValueError):
        column = reader.column_reader(fieldname, translate=translate)
        values = [column[d] for d in range(reader.doc_count_all())]
    cache[fieldname, translate] = values
    return values


def _unordered_ids(data_dir: str | Path, text: str, filters: Filters) -> list[int]:
    """Every match unscored, its id read from the `article` column."""
    try:
        with _searcher(data_dir) as searcher:
            q = parse_query(text, searcher.reader())
            restrict = _filter_query(filters)
            if restrict is not None:
                q = wq.And([q, restrict])
            out: list[int] = []
            for leaf, _offset in searcher.leaf_searchers():
                ids = _article_ids(leaf.reader())
                out += [ids[docnum] for docnum in sorted(_docset(q, leaf))]
            return out
    except _CORRUPTION as exc:
        _forget_warm(data_dir)
        raise _damaged(index_dir(data_dir), exc) from exc
