"""Backfill: a source's past articles from a web archive's CDX index and raw replay.

Works with any server that speaks the Wayback CDX API: the Internet Archive's Wayback Machine
(`output=json` is an array of arrays), pywb, OpenWayback and national-library archives (pywb's is
one JSON object per line). Both shapes are read. Captures go through the same extraction worker
pool, tagging, archive and index path as a live crawl (`crawler.webarchive.CaptureImporter`).

HTTP goes through urllib3, whose `Retry` backs off on 429 and 5xx answers and obeys
`Retry-After`; a per-archive delay between requests keeps us polite. cdx_toolkit was considered:
it reads both CDX shapes, but ignores Retry-After, waits a fixed 60 s after every dropped
connection (up to 100 times) and keeps its limits in module-wide state, which suits a
command-line tool but not a library that must stop cleanly and report one line per problem.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from archive import Archive, url_key
from archive.db import now_iso
from archive.errors import CcnewsError
from crawler.registry import Source
from crawler.settings import CCNEWS_MIN_WORDS as MIN_WORDS
from crawler.webarchive import Capture, CaptureImporter, Limits, SourceMap, _iso

logger = logging.getLogger(__name__)

WAYBACK_CDX = "https://web.archive.org/cdx/search/cdx"
WAYBACK_REPLAY = "https://web.archive.org/web"
# Seconds between requests to one web archive. The Internet Archive throttles hard (about 15 CDX
# requests a minute before it answers 429 and, persisted in, blocks the address for a while).
DEFAULT_DELAY = {"web.archive.org": 4.0}
OTHER_DELAY = 1.0
USER_AGENT = "ccnews/0.1 (+https://github.com/ccnews/ccnews; backfill of regional news)"
MAX_BODY = 10 * 1024 * 1024
# An article is often first captured weeks or months after it was published: captures are looked
# up this long past `until`, and the page's own publication date decides.
CAPTURE_GRACE_DAYS = 365


class BackfillError(CcnewsError):
    """The web archive cannot be used (unreachable, not a CDX server, refusing us)."""


COMMONCRAWL_INDEX = "https://index.commoncrawl.org"
COMMONCRAWL_DATA = "https://data.commoncrawl.org"


@dataclass
class ArchiveEndpoint:
    """A web archive: its CDX API and where raw captures are replayed (`{replay}/{ts}id_/{url}`);
    for Common Crawl, its crawls' CDX APIs and the WARC files read by byte range from `data`."""

    cdx: str
    replay: str
    name: str
    delay: float
    data: str | None = None
    crawls: list[str] = field(default_factory=list)

    @classmethod
    def commoncrawl(cls, index: str | None = None, data: str | None = None, crawls: list[str] | None = None,
                    delay: float | None = None) -> ArchiveEndpoint:
        index = (index or COMMONCRAWL_INDEX).rstrip("/")
        return cls(cdx=index, replay="", name="commoncrawl", delay=1.0 if delay is None else delay,
                   data=(data or COMMONCRAWL_DATA).rstrip("/"), crawls=list(crawls or []))

    def indexes(self, client: Client, since: date, until: date) -> list[str]:
        """The CDX APIs to ask: one, or Common Crawl's crawls that overlap the period."""
        if self.data is None:
            return [self.cdx]
        if self.crawls:
            return [f"{self.cdx}/{c}-index" for c in self.crawls]
        response = client.get(f"{self.cdx}/collinfo.json")
        if response.status != 200:
            raise BackfillError(f"Common Crawl's index at {self.cdx} answered HTTP {response.status} for collinfo.json")
        try:
            crawls = json.loads(response.data)
        except ValueError:
            raise BackfillError(f"Common Crawl's index at {self.cdx}: collinfo.json is not JSON") from None
        out = []
        for crawl in crawls:
            start, end = str(crawl.get("from", ""))[:10], str(crawl.get("to", ""))[:10]
            if start and end and (end < since.isoformat() or start > until.isoformat()):
                continue
            out.append(crawl.get("cdx-api") or f"{self.cdx}/{crawl['id']}-index")
        return out

    @classmethod
    def from_cdx(cls, cdx: str | None, replay: str | None = None, delay: float | None = None) -> ArchiveEndpoint:
        if not cdx:
            return cls(WAYBACK_CDX, WAYBACK_REPLAY, "web.archive.org",
                       DEFAULT_DELAY["web.archive.org"] if delay is None else delay)
        parts = urlsplit(cdx)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackfillError(f"--cdx {cdx!r} is not an http(s) URL")
        if replay is None:
            # pywb: /<coll>/cdx answers for the collection replayed at /<coll>.
            replay = cdx[: -len("/cdx")] if cdx.rstrip("/").endswith("/cdx") else cdx.rsplit("/", 1)[0]
        host = parts.hostname
        return cls(cdx, replay.rstrip("/"), f"{host}{parts.path}".rstrip("/"),
                   DEFAULT_DELAY.get(host, OTHER_DELAY) if delay is None else delay)


class Client:
    """Polite HTTP to one web archive: a delay between requests, backoff with Retry-After."""

    def __init__(self, endpoint: ArchiveEndpoint, retries: int = 5, timeout: float = 30.0):
        import urllib3

        self.endpoint = endpoint
        # A replay that redirects (to another capture, or the original's own redirect) is not
        # followed: its bytes would be stored under the wrong URL.
        retry = urllib3.Retry(total=retries, connect=retries, read=retries, backoff_factor=max(endpoint.delay, 0.05),
                              status_forcelist=(429, 500, 502, 503, 504), respect_retry_after_header=True,
                              allowed_methods=("GET",), raise_on_status=False, redirect=False)
        self.http = urllib3.PoolManager(retries=retry, timeout=urllib3.Timeout(connect=10.0, read=timeout),
                                        headers={"User-Agent": USER_AGENT}, maxsize=2)
        self.next_at = 0.0
        self.requests = 0

    def get(self, url: str, preload: bool = True, headers: dict[str, str] | None = None):
        import urllib3

        wait = self.next_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            response = self.http.request("GET", url, preload_content=preload, decode_content=True, redirect=False,
                                         headers=headers)
        except urllib3.exceptions.MaxRetryError as exc:
            raise BackfillError(f"{self.endpoint.name} does not answer: {_reason(exc)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise BackfillError(f"{self.endpoint.name}: {type(exc).__name__}: {str(exc)[:200]}") from None
        finally:
            self.requests += 1
            self.next_at = time.monotonic() + self.endpoint.delay
        return response


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "RemoteDisconnected" in text or "Connection aborted" in text or "ProtocolError" in text:
        return "the connection was dropped"
    if "too many 429" in text or "429" in text:
        return "too many requests (429), even after waiting"
    return text[:200]


# -- listing captures ------------------------------------------------------------------------------


def parse_cdx(text: str) -> list[dict[str, str]]:
    """CDX `output=json` in either shape: pywb's one object per line, or the Wayback Machine's
    array of arrays whose first row names the fields."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
        if not rows:
            return []
        names = rows[0]
        return [dict(zip(names, row)) for row in rows[1:] if row and len(row) == len(names)]
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _windows(since: date, until: date) -> Iterator[tuple[str, str]]:
    """(from, to) CDX timestamps a year at a time: each answer stays small, and no server-side
    paging (which plain pywb collections lack) is needed."""
    year = since.year
    while year <= until.year:
        start = max(since, date(year, 1, 1))
        end = min(until, date(year, 12, 31))
        yield start.strftime("%Y%m%d"), end.strftime("%Y%m%d") + "235959"
        year += 1


def list_captures(
    client: Client, host: str, since: date, until: date, cdx: str | None = None
) -> Iterator[dict[str, str]]:
    """One capture per URL of `host` (and its subdomains' `www.`) in the period: status 200, HTML,
    the earliest capture in the period (the one closest to publication for news pages)."""
    seen: set[str] = set()
    for start, end in _windows(since, until):
        params = [("url", f"{host}/*"), ("output", "json"), ("from", start), ("to", end),
                  ("filter", "statuscode:200"), ("filter", "mimetype:text/html"), ("collapse", "urlkey")]
        response = client.get(f"{cdx or client.endpoint.cdx}?{urlencode(params)}")
        if response.status == 404 and response.data[:1] in (b"{", b""):
            continue  # pywb: no captures for this URL
        if response.status >= 400:
            raise BackfillError(f"{client.endpoint.name}: the CDX server answered HTTP {response.status}")
        try:
            rows = parse_cdx(response.data.decode("utf-8", "replace"))
        except ValueError:
            raise BackfillError(f"{client.endpoint.name}: the answer is not CDX JSON") from None
        rows.sort(key=lambda r: (r.get("urlkey") or url_key(r.get("url") or r.get("original") or ""),
                                 r.get("timestamp", "")))
        for row in rows:
            url = row.get("original") or row.get("url") or ""
            status = row.get("statuscode") or row.get("status") or ""
            mime = (row.get("mimetype") or row.get("mime") or "").lower()
            if status != "200" or (mime and "html" not in mime):
                continue  # servers that ignore `filter`
            key = url_key(url)
            if key in seen:
                continue  # servers that ignore `collapse`
            seen.add(key)
            yield {"url": url, "timestamp": row.get("timestamp", ""), "key": key,
                   **{k: row[k] for k in ("filename", "offset", "length") if row.get(k)}}


# -- fetching and archiving ------------------------------------------------------------------------


def fetch_warc_range(client: Client, row: dict[str, str]) -> Capture | str:
    """A capture read from its WARC file by byte range (Common Crawl: filename, offset, length)."""
    import io

    from crawler.webarchive import capture_of, iter_records

    if not all(row.get(k) for k in ("filename", "offset", "length")):
        return "no_warc_location"
    offset, length = int(row["offset"]), int(row["length"])
    if length > MAX_BODY * 2:
        return "too_large"
    url = f"{client.endpoint.data}/{quote(row['filename'])}"
    try:
        response = client.get(url, headers={**client.http.headers, "Range": f"bytes={offset}-{offset + length - 1}"})
    except BackfillError as exc:
        logger.warning("capture not fetched: %s (%s)", row["url"], exc)
        return "fetch_failed"
    if response.status not in (200, 206):
        return "replay_not_200"
    data = response.data[:length] if response.status == 206 else response.data[offset : offset + length]
    damaged: list[str] = []
    for _offset, record in iter_records(io.BytesIO(data), 0, lambda _o, what: damaged.append(what)):
        found = capture_of(
            record, f"commoncrawl:{row['filename'].split('/')[1] if '/' in row['filename'] else row['filename']}"
        )
        if isinstance(found, Capture):
            found.replay_url = f"{url}#bytes={offset}-{offset + length - 1}"
        return found
    return "truncated" if damaged else "no_record"


def fetch_capture(client: Client, row: dict[str, str]) -> Capture | str:
    """The archived bytes of a capture as first served (`id_` replay), or why not."""
    import urllib3

    replay = f"{client.endpoint.replay}/{row['timestamp']}id_/{quote(row['url'], safe=':/?&=%#;,+@')}"
    try:
        response = client.get(replay, preload=False)
    except BackfillError as exc:
        logger.warning("capture not fetched: %s (%s)", row["url"], exc)
        return "fetch_failed"
    try:
        if response.status != 200:
            return "replay_not_200" if response.status < 300 or response.status >= 400 else "replay_redirect"
        ctype = response.headers.get("Content-Type", "")
        if ctype and "html" not in ctype.lower():
            return "not_html"
        body = response.read(MAX_BODY + 1, decode_content=True)
        if len(body) > MAX_BODY:
            return "too_large"
        expected = response.headers.get("Content-Length")
        if (
            expected
            and not response.headers.get("Content-Encoding")
            and expected.isdigit()
            and len(body) < int(expected)
        ):
            return "truncated"
    except (urllib3.exceptions.HTTPError, OSError):
        return "truncated"  # the connection ended inside the body
    finally:
        response.release_conn()
    headers = {k.lower(): v for k, v in response.headers.items()
               if k.lower() in ("content-type", "etag", "last-modified", "date", "content-language")}
    return Capture(url=row["url"], body=body, status=200, headers=headers, capture_time=_iso(row["timestamp"]),
                   archive=client.endpoint.name, replay_url=replay)


@dataclass
class Progress:
    listed: int = 0
    fetched: int = 0
    archived: int = 0
    started: float = field(default_factory=time.monotonic)

    def eta(self, remaining: int) -> float | None:
        if not self.fetched:
            return None
        return (time.monotonic() - self.started) / self.fetched * remaining


def backfill(archive: Archive, registry: dict[str, Source], source_ids: list[str], endpoint: ArchiveEndpoint,
             since: date, until: date, *, refetch: bool = False, processes: int = -1, min_words: int = MIN_WORDS,
             progress: Callable[[str, Progress, int], None] | None = None) -> dict[str, Counter]:
    """Backfill each source from the web archive; returns counts per source.

    A capture whose URL the archive already holds (from a crawl or an earlier backfill) is not
    fetched again unless `refetch`; one fetched before (an interrupted backfill) is not fetched
    twice. Publication dates bound the period too: an article published outside it is skipped.
    """
    import os

    client = Client(endpoint)
    limits = Limits(since=datetime.combine(since, datetime.min.time(), UTC),
                    until=datetime.combine(until, datetime.max.time(), UTC), min_words=min_words)
    if processes < 0:
        processes = os.cpu_count() or 1
    results: dict[str, Counter] = {}
    for sid in source_ids:
        src = registry[sid]
        counts: Counter = Counter()
        results[sid] = counts
        smap = SourceMap(registry, sid)
        run_id = _start(archive, sid, endpoint, since, until)
        state = Progress()
        known = set() if refetch else _known_keys(archive, sid)
        tried = _tried(archive, endpoint.name)

        def done(token: Any) -> None:
            key, timestamp = token
            _record(archive, endpoint.name, key, timestamp)

        importer = CaptureImporter(archive, smap, limits, processes, counts, done, remember_skips=True)
        outcome = "failed"
        try:
            found: dict[str, dict[str, str]] = {}
            last = max(min(until + timedelta(days=CAPTURE_GRACE_DAYS), date.today()), until)
            for cdx in endpoint.indexes(client, since, last):
                for host in _hosts(src):
                    for row in list_captures(client, host, since, last, cdx):
                        # One capture per URL, whichever host or crawl listed it: the earliest.
                        if row["key"] not in found or row["timestamp"] < found[row["key"]]["timestamp"]:
                            found[row["key"]] = row
            rows = list(found.values())
            counts["listed"] = len(rows)
            state.listed = len(rows)
            for n, row in enumerate(rows, 1):
                if not smap.accepts(src, row["url"]):
                    counts["skipped_pattern_mismatch"] += 1
                    continue
                if row["key"] in known:
                    counts["skipped_already_archived"] += 1
                    continue
                if (row["key"], row["timestamp"]) in tried:
                    counts["skipped_fetched_before"] += 1
                    continue
                capture = fetch_warc_range(client, row) if endpoint.data else fetch_capture(client, row)
                if isinstance(capture, str):
                    counts[f"skipped_{capture}"] += 1
                    if capture not in ("fetch_failed", "truncated"):  # worth another try next time
                        _record(archive, endpoint.name, row["key"], row["timestamp"])
                    continue
                counts["fetched"] += 1
                state.fetched += 1
                importer.add((row["key"], row["timestamp"]), capture)
                state.archived = counts["new"] + counts["updated"] + counts["unchanged"]
                if progress:
                    progress(sid, state, len(rows) - n)
            importer.flush()  # before the run is called ok: what is archived decides
            outcome = "ok"
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        finally:
            try:
                importer.flush()
            finally:
                importer.close()
                _finish(archive, run_id, counts, outcome)
    return results


def _hosts(src: Source) -> list[str]:
    """The hosts to look up: the source's own and its former ones (ports kept, as on 127.0.0.1)."""
    hosts = [*src.netlocs, *(h.lower().removeprefix("www.") for h in [*src.domains, *src.former_domains])]
    return list(dict.fromkeys(hosts))


# -- bookkeeping -----------------------------------------------------------------------------------


def _start(archive: Archive, sid: str, endpoint: ArchiveEndpoint, since: date, until: date) -> int:
    with archive.transaction():
        return archive.db["backfills"].insert({"source": sid, "archive": endpoint.name, "since": since.isoformat(),
                                               "until": until.isoformat(), "started": now_iso(),
                                               "outcome": "running"}).last_pk


def _finish(archive: Archive, run_id: int, counts: Counter, outcome: str) -> None:
    with archive.transaction():
        archive.db["backfills"].update(run_id, {"finished": now_iso(), "outcome": outcome,
                                                "counts": json.dumps(dict(counts), sort_keys=True)})


def _record(archive: Archive, name: str, key: str, timestamp: str) -> None:
    with archive.transaction():
        archive.db["backfill_captures"].insert({"archive": name, "url_key": key, "timestamp": timestamp,
                                                "done": now_iso()}, replace=True)


def _known_keys(archive: Archive, sid: str) -> set[str]:
    return set(archive.known_url_keys(sid, all_skipped=True))


def _tried(archive: Archive, name: str) -> set[tuple[str, str]]:
    return {(r["url_key"], r["timestamp"]) for r in archive.db.query(
        "select url_key, timestamp from backfill_captures where archive = ?", [name])}


def last_backfills(archive: Archive) -> dict[str, dict[str, Any]]:
    """The latest backfill of every source (the scheduler runs one only for a source never done)."""
    return {r["source"]: r for r in archive.db.query(
        "select * from backfills where id in (select max(id) from backfills where outcome = 'ok' group by source)")}
