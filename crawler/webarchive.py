"""WARC in and out: import web-archive captures (WARC, ARC, WACZ, CC-NEWS) through the same
extraction, tagging and archive path as a live crawl, and export archived pages as WARC/1.1.

warcio (Webrecorder's reader and writer, which pywb itself uses) parses and writes the records;
what is ours is the choice of records, the mapping to sources, resumption and damage recovery.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import zipfile
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from archive import Archive, url_key
from archive.errors import CcnewsError
from crawler.dates import parse_date
from crawler.registry import Source
from crawler.settings import CCNEWS_MIN_WORDS as MIN_WORDS

logger = logging.getLogger(__name__)

# A page larger than this is a trap, not news (the crawl's DOWNLOAD_MAXSIZE).
MAX_BODY = 10 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b\x08"
# WARC extension headers of the files ccnews writes (WARC allows its own named fields).
LISTED_HEADER = "CCNews-Listed-Date"
SOURCE_HEADER = "CCNews-Source"
PAGE_OF_HEADER = "CCNews-Page-Of"


class ImportProblem(CcnewsError):
    """A WARC file cannot be read at all."""


@dataclass
class Capture:
    """One archived HTTP response, as a web archive or a WARC file holds it."""

    url: str
    body: bytes
    status: int
    headers: dict[str, str]
    capture_time: str  # ISO 8601, UTC
    archive: str  # a WARC file's name, or a web archive's name
    replay_url: str | None = None
    listed_date: str | None = None  # the date a feed or listing gave, kept in ccnews's own WARCs
    page_of: str | None = None  # for page 2+ of a multi-page article in ccnews's own WARCs: page 1's URL


# -- choosing a source ------------------------------------------------------------------------------


class SourceMap:
    """Which registry source a captured URL belongs to (its hosts and former hosts), and whether
    the URL has the shape of one of its articles."""

    def __init__(self, registry: dict[str, Source], forced: str | None = None):
        self.registry = registry
        self.forced = registry[forced] if forced else None
        self.patterns = {s.id: re.compile(s.article_pattern) if s.article_pattern else None for s in registry.values()}
        self.former = {s.id: re.compile(s.former_article_pattern) if s.former_article_pattern else None
                       for s in registry.values()}

    def source_for(self, url: str) -> Source | None:
        if self.forced is not None:
            return self.forced
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().removeprefix("www.")
        # Sources on one host told apart by port (as on 127.0.0.1).
        netloc = f"{host}:{parts.port}" if parts.port else host
        by_port = [s for s in self.registry.values() if netloc in s.netlocs]
        if len(by_port) == 1:
            return by_port[0]
        from crawler.discovery import host_allowed

        for src in self.registry.values():
            if host_allowed(url, src.archive_hosts):
                return src
        return None

    def accepts(self, src: Source, url: str) -> bool:
        from archive.urls import TRACKING_PARAMS, strip_tracking

        url = strip_tracking(url, TRACKING_PARAMS)
        host = urlsplit(url).hostname or ""
        pattern = self.patterns.get(src.id)
        if src.is_former_host(host) and self.former.get(src.id) is not None:
            pattern = self.former[src.id]
        return pattern is None or bool(pattern.search(url))


# -- reading WARC files -----------------------------------------------------------------------------

# One gzip member holds one record (the WARC standard's advice, followed by Heritrix, wget,
# Browsertrix, warcio and Common Crawl); a member larger than this is read as one stream instead.
MAX_MEMBER = 64 * 1024 * 1024


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ImportProblem(f"cannot read {path}: {exc.strerror or exc}") from None


def _records_of(data: bytes) -> Iterator[Any]:
    from warcio.archiveiterator import ArchiveIterator

    yield from ArchiveIterator(io.BytesIO(data), arc2warc=True)


def iter_records(fh: BinaryIO, start: int, damage: Callable[[int, str], None]) -> Iterator[tuple[int, Any]]:
    """(offset, record) for every record of a WARC or ARC file from byte `start` (a record's
    start): gzip members one at a time, so a damaged member is reported to `damage` with its
    offset and reading goes on at the next member; memory stays at one record."""
    import zlib

    fh.seek(start)
    magic = fh.read(2)
    fh.seek(start)
    if magic != b"\x1f\x8b":
        # Uncompressed: warcio streams it; after a damaged record, reading resumes at the next
        # line that starts a record.
        yield from _iter_stream(fh, start, damage, resync=b"WARC/1.")
        return
    offset = start
    while True:
        fh.seek(offset)
        d = zlib.decompressobj(31)
        out: list[bytes] = []
        size = 0
        consumed = 0
        try:
            while not d.eof:
                chunk = fh.read(1 << 20)
                if not chunk:
                    if consumed == 0:
                        return  # the end of the file
                    raise EOFError("the file ends inside a gzip member")
                piece = d.decompress(chunk)
                consumed += len(chunk) - len(d.unused_data)
                size += len(piece)
                out.append(piece)
                if size > MAX_MEMBER:
                    yield from _iter_stream(fh, offset, damage)
                    return
        except (zlib.error, EOFError) as exc:
            damage(offset, f"corrupt gzip member ({exc})")
            found = _next_member(fh, offset + 1)
            if found is None:
                return
            offset = found
            continue
        try:
            for record in _records_of(b"".join(out)):
                yield offset, record
        except Exception as exc:  # noqa: BLE001 - warcio raises several types for a bad record
            damage(offset, f"unreadable record ({type(exc).__name__})")
        offset += consumed


def _iter_stream(fh: BinaryIO, start: int, damage: Callable[[int, str], None],
                 resync: bytes = GZIP_MAGIC) -> Iterator[tuple[int, Any]]:
    from warcio.archiveiterator import ArchiveIterator

    offset = start
    while True:
        fh.seek(offset)
        it = ArchiveIterator(fh, arc2warc=True)
        last = offset
        try:
            for record in it:
                # `it.offset` is where this record starts; get_record_offset() would read the
                # record to its end first, leaving the caller an empty payload.
                last = offset + it.offset
                yield last, record
            return
        except Exception as exc:  # noqa: BLE001 - as above
            damage(last, f"unreadable record ({type(exc).__name__})")
            found = _find(fh, resync, last + 1)
            if found is None:
                return
            offset = found


def _find(fh: BinaryIO, marker: bytes, start: int) -> int | None:
    fh.seek(start)
    pos, tail = start, b""
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            return None
        data = tail + chunk
        i = data.find(marker)
        if i != -1:
            return pos - len(tail) + i
        tail = data[-(len(marker) - 1):]
        pos += len(chunk)


def _next_member(fh: BinaryIO, start: int) -> int | None:
    """The offset of the next gzip member after `start` whose start decompresses to a record."""
    import zlib

    at = start
    while True:
        found = _find(fh, GZIP_MAGIC, at)
        if found is None:
            return None
        fh.seek(found)
        try:
            head = zlib.decompressobj(31).decompress(fh.read(8192), 16)
        except zlib.error:
            head = b""
        if head.startswith((b"WARC/", b"filedesc:", b"http")):
            return found
        at = found + 1


def capture_of(record: Any, archive_name: str) -> Capture | str:
    """The capture a WARC record holds, or the reason it is not one to import."""
    kind = record.rec_type
    if kind == "revisit":
        return "revisit"
    if kind != "response":
        return "not_a_response"
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    if not url.startswith(("http://", "https://")):
        return "not_http"
    http = record.http_headers
    if http is None:
        return "no_http_headers"
    try:
        status = int(http.get_statuscode() or 0)
    except ValueError:
        status = 0
    if status != 200:
        return "not_200"
    ctype = (http.get_header("Content-Type") or "").lower()
    if ctype and "html" not in ctype:
        return "not_html"
    try:
        body = record.content_stream().read(MAX_BODY + 1)
    except Exception:  # noqa: BLE001 - a truncated or corrupt payload (zlib, chunking, EOF)
        return "damaged_payload"
    if len(body) > MAX_BODY:
        return "too_large"
    headers = {k.lower(): v for k, v in http.headers if k.lower() in
               ("content-type", "etag", "last-modified", "date", "content-language")}
    stamp = record.rec_headers.get_header("WARC-Date") or ""
    return Capture(url=url, body=body, status=status, headers=headers, capture_time=_iso(stamp),
                   archive=archive_name, listed_date=record.rec_headers.get_header(LISTED_HEADER),
                   page_of=record.rec_headers.get_header(PAGE_OF_HEADER))


def _iso(stamp: str) -> str:
    """A WARC-Date (or a 14-digit CDX timestamp) as ISO 8601 UTC."""
    stamp = stamp.strip()
    try:
        if stamp.isdigit() and len(stamp) >= 8:
            dt = datetime.strptime(stamp[:14].ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        else:
            dt = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC).replace(microsecond=0).isoformat()
    return dt.replace(microsecond=0).isoformat()


# -- from captures to archived articles ------------------------------------------------------------


@dataclass
class Limits:
    since: datetime | None = None  # publication date bounds (aware)
    until: datetime | None = None
    min_words: int = MIN_WORDS


def decode(capture: Capture) -> tuple[str, str]:
    """The page's text and encoding, decided exactly as for a live fetch (as Scrapy decodes it)."""
    from scrapy.http import HtmlResponse

    from crawler.encoding import page_text

    response = HtmlResponse(url=capture.url, body=capture.body,
                            headers={k: v for k, v in capture.headers.items()})
    return page_text(response)


class CaptureImporter:
    """Extracts captures in the crawl's worker pool and archives them in order; `done(token)` is
    called once a capture's outcome is committed, so a caller can record how far it got."""

    def __init__(self, archive: Archive, smap: SourceMap, limits: Limits, processes: int,
                 counts: Counter, done: Callable[[Any], None] = lambda _t: None,
                 remember_skips: bool = False):
        from crawler.pipelines.extract import extraction_pool

        self.archive = archive
        self.smap = smap
        self.limits = limits
        self.counts = counts
        self.done = done
        self.remember_skips = remember_skips
        self.pool = extraction_pool(processes) if processes > 0 else None
        self.window = max(4, 3 * processes)
        # (token, captures, source, encodings, extraction job), or (token, None, None, skip reason, None)
        self.pending: deque[tuple[Any, list[Capture] | None, Source | None, Any, Future | tuple | None]] = deque()

    def skip(self, token: Any, reason: str) -> None:
        if self.pending:  # in order behind the captures still being extracted
            self.pending.append((token, None, None, reason, None))
            return
        self.counts[f"skipped_{reason}"] += 1
        self.done(token)

    def add(self, token: Any, capture: Capture, more: list[Capture] | None = None) -> None:
        """One article's capture (with the captures of its pages 2+, if any)."""
        from crawler.pipelines.extract import extract_and_tag

        src = self.smap.source_for(capture.url)
        if src is None:
            return self.skip(token, "out_of_registry")
        if not self.smap.accepts(src, capture.url):
            return self.skip(token, "pattern_mismatch")
        decoded = [decode(c) for c in [capture, *(more or [])]]
        args = ([(c.url, text) for c, (text, _e) in zip([capture, *(more or [])], decoded)], src.timezone,
                src.language, self.limits.min_words, src.extract or None, src.id)
        job = self.pool.submit(extract_and_tag, *args) if self.pool else extract_and_tag(*args)
        self.pending.append((token, [capture, *(more or [])], src, [e for _t, e in decoded], job))
        while len(self.pending) > self.window:
            self._finish_one()

    def flush(self) -> None:
        while self.pending:
            self._finish_one()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _finish_one(self) -> None:
        from crawler.pipelines.archive import remember_skip, store_item
        from crawler.pipelines.extract import prepare_article

        token, captures, src, encodings, job = self.pending.popleft()
        if captures is None:  # a skip queued behind extractions
            self.counts[f"skipped_{encodings}"] += 1
            return self.done(token)
        status, value, tags, _cpu = job.result() if isinstance(job, Future) else job
        capture = captures[0]
        pages = [{"url": c.url, "status": c.status, "headers": c.headers, "content_type": c.headers.get("content-type"),
                  "encoding": e, "body": c.body, "fetched_at": c.capture_time, "origin": "web-archive",
                  "archive": c.archive, "capture_time": c.capture_time, "replay_url": c.replay_url}
                 for c, e in zip(captures, encodings)]
        item = {"source": src.id, "url": capture.url, "requested_url": None, "pages": pages,
                "fetched_at": capture.capture_time}
        if status == "error":
            self.counts["errors_extraction"] += 1
            logger.warning("extraction failed for %s: %s", capture.url, str(value)[:200])
            return self.done(token)
        if status == "skip":
            if self.remember_skips:
                remember_skip(self.archive, {**item, "skip": value})
            self.counts[f"skipped_{value}"] += 1
            return self.done(token)
        if capture.listed_date:
            article = prepare_article(value, src, capture.listed_date, "listing")
        else:
            article = prepare_article(value, src, capture.capture_time, "capture")
        published = parse_date(article["published"]) if article["published"] else None
        out_of_range = "before_since" if published and self.limits.since and published < self.limits.since else \
            "after_until" if published and self.limits.until and published > self.limits.until else None
        if out_of_range:
            self.counts[f"skipped_{out_of_range}"] += 1
            return self.done(token)
        outcome, _ = store_item(self.archive, {**item, "article": article, "tags": tags})
        self.counts[outcome] += 1
        self.done(token)


# -- importing files -------------------------------------------------------------------------------


def _file_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}"


def import_files(archive: Archive, registry: dict[str, Source], paths: list[Path], *, source: str | None = None,
                 limits: Limits | None = None, processes: int = -1,
                 progress: Callable[[Counter], None] | None = None, progress_every: int = 200) -> Counter:
    """Import WARC, ARC and WACZ files into the archive; returns counts by outcome and reason.

    Idempotent (a file imported whole is passed over; a capture already archived is `unchanged`)
    and resumable: the offset of the last committed record is kept per file, so an interrupted
    import goes on from there.
    """
    limits = limits or Limits()
    counts: Counter = Counter()
    smap = SourceMap(registry, source)
    if processes < 0:
        processes = os.cpu_count() or 1
    state: dict[str, Any] = {}

    def done(token: Any) -> None:
        state["offset"] = token
        counts["records"] += 1
        if counts["records"] % progress_every == 0:
            archive.record_import(state["key"], state["name"], token, False)
            if progress:
                progress(counts)

    importer = CaptureImporter(archive, smap, limits, processes, counts, done)
    try:
        for path in paths:
            path = Path(path)
            if not path.is_file():
                raise ImportProblem(f"{path}: no such file")
            key = _file_key(path)
            seen = archive.import_state(key)
            if seen and seen["done"]:
                counts["files_already_imported"] += 1
                continue
            state.update(key=key, name=path.name, offset=seen["offset"] if seen else None, finished=False)
            start = seen["offset"] if seen and seen["offset"] is not None else None
            held: list[Any] = []  # an article's first capture, with its pages 2+ as they follow

            def release(held: list[Any] = held) -> None:
                if held:
                    importer.add(held[0], held[1], held[2:])
                    held.clear()

            for token, item in _file_items(path, start, counts):
                if isinstance(item, str):
                    release()
                    importer.skip(token, item)
                elif item.page_of and held and url_key(item.page_of) == url_key(held[1].url):
                    held.append(item)
                else:
                    release()
                    held.extend([token, item])
            release()
            importer.flush()
            archive.record_import(key, path.name, state.get("offset"), True)
            state["finished"] = True
            counts["files"] += 1
            if progress:
                progress(counts)
    finally:
        # An interruption keeps what was extracted: archived, and the place recorded (first what
        # is committed already, then again after the captures in hand are archived).
        try:
            if state.get("key") and not state.get("finished"):
                archive.record_import(state["key"], state["name"], state.get("offset"), False)
                importer.flush()
                archive.record_import(state["key"], state["name"], state.get("offset"), False)
        finally:
            importer.close()
    return counts


def _file_items(path: Path, start: Any, counts: Counter) -> Iterator[tuple[Any, Capture | str]]:
    def damage(offset: int, what: str) -> None:
        counts["damaged"] += 1
        logger.warning("%s: damaged at byte %d (%s); going on after it", path.name, offset, what)

    if zipfile.is_zipfile(path) and path.suffix.lower() == ".wacz":
        yield from _wacz_items(path, start, damage)
        return
    with _open(path) as fh:
        resume = start or 0
        for offset, record in iter_records(fh, resume, damage):
            if start is not None and offset <= start:
                continue  # committed before the interruption
            yield offset, capture_of(record, path.name)


def _wacz_items(path: Path, start: Any, damage: Callable[[int, str], None]) -> Iterator[tuple[Any, Capture | str]]:
    """A WACZ package: the WARC files under archive/ in the zip, read in place. A position is
    (member number, record offset) as "n:offset"."""
    import tempfile

    done_member, done_offset = (int(x) for x in start.split(":")) if isinstance(start, str) else (-1, -1)
    with zipfile.ZipFile(path) as z:
        members = [n for n in z.namelist() if n.startswith("archive/") and n.endswith((".warc", ".warc.gz"))]
        for n, name in enumerate(members):
            if n < done_member:
                continue
            # warcio needs to seek to resume and recover: a member is copied out to a temporary file.
            with z.open(name) as src, tempfile.TemporaryFile() as tmp:
                while chunk := src.read(1 << 20):
                    tmp.write(chunk)
                for offset, record in iter_records(tmp, 0, damage):
                    if n == done_member and offset <= done_offset:
                        continue
                    yield f"{n}:{offset}", capture_of(record, f"{path.name}/{name}")


# -- writing WARC files ----------------------------------------------------------------------------

# Extracted fields carried in each article's `metadata` record.
METADATA_FIELDS = ("id", "source", "url", "canonical_url", "title", "authors", "published", "date_source", "modified",
                   "language", "description", "cities", "fields", "relevance", "group_id", "origin", "first_seen")


def _warc_date(iso: str | None) -> str:
    stamp = _iso(iso or "")
    return stamp.replace("+00:00", "Z")


def export_warc(archive: Archive, ids: list[int], fh: BinaryIO, *, gzip: bool = True, version: str = "") -> int:
    """Each article's raw pages as WARC/1.1 `response` records, with their original HTTP headers
    and capture time, each article followed by a `metadata` record of its extracted fields; a
    `warcinfo` record first. Returns how many articles were written."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    writer = WARCWriter(fh, gzip=gzip, warc_version="WARC/1.1")
    writer.write_record(writer.create_warcinfo_record("ccnews-export", {
        "software": f"ccnews {version}".strip(), "format": "WARC File Format 1.1",
        "description": "Regional news about creative-city activity, as archived by ccnews",
    }))
    n = 0
    for start in range(0, len(ids), 200):
        rows = archive.get_articles(ids[start : start + 200])
        for article_id in ids[start : start + 200]:
            row = rows.get(article_id)
            if row is None:
                continue
            pages = archive.raw_pages(article_id)
            response_id = None
            for page_no, page in enumerate(pages, 1):
                headers = [(k.title(), v) for k, v in (page["headers"] or {}).items() if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(page["body"]))))
                status = page["status"] or 200
                http = StatusAndHeaders(f"{status} {_REASONS.get(status, 'OK')}", headers, protocol="HTTP/1.1")
                warc_headers = {"WARC-Date": _warc_date(page.get("capture_time") or page["fetched_at"]),
                                SOURCE_HEADER: row["source"]}
                if row.get("date_source") == "listing" and row.get("published"):
                    warc_headers[LISTED_HEADER] = row["published"]
                if page_no > 1:
                    warc_headers[PAGE_OF_HEADER] = pages[0]["url"]
                record = writer.create_warc_record(page["url"], "response", payload=io.BytesIO(page["body"]),
                                                   length=len(page["body"]), http_headers=http,
                                                   warc_headers_dict=warc_headers)
                writer.write_record(record)
                response_id = response_id or record.rec_headers.get_header("WARC-Record-ID")
            fields = {k: row.get(k) for k in METADATA_FIELDS}
            for key in ("authors", "cities", "fields"):
                fields[key] = json.loads(fields[key] or "[]")
            fields["text"] = row.get("text")
            payload = json.dumps(fields, ensure_ascii=False, indent=1).encode("utf-8")
            meta_headers = {"WARC-Date": _warc_date(row.get("fetched_at"))}
            if response_id:
                meta_headers["WARC-Refers-To"] = response_id
            writer.write_record(writer.create_warc_record(
                row["url"], "metadata", payload=io.BytesIO(payload), length=len(payload),
                warc_content_type="application/json", warc_headers_dict=meta_headers))
            n += 1
    return n


_REASONS = {200: "OK", 203: "Non-Authoritative Information", 206: "Partial Content"}
