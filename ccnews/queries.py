"""What `ccnews search`, `ccnews runs` and `ccnews health` show, as plain objects: the command line
prints them and the web page (and its JSON API) serves them, so both say the same things."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archive import Archive


def hit_dict(h: Any) -> dict[str, Any]:
    """A search hit as `ccnews search --json` prints it."""
    return {"id": h.id, "url": h.url, "title": h.title, "source": h.source,
            "published": h.published.isoformat() + "Z" if h.published else None,
            "language": h.language, "score": h.score, "snippet": h.snippet,
            "cities": h.cities, "fields": h.fields, "relevance": h.relevance, "group_id": h.group,
            "copies": [{"id": c.get("id"), "url": c["url"], "source": c["source"], "title": c["title"]}
                       for c in h.copies]}


def search(archive: Archive, data_dir: Path, text: str, filters: Any, *, limit: int = 20, offset: int = 0,
           sort: str = "relevance", all_copies: bool = False) -> dict[str, Any]:
    """One page of search results: `hits` (as `ccnews search --json`, with each hit's origin: a
    live fetch or a web archive), `total` (Whoosh's estimate when not every match is listed),
    `more` (another page exists), `suggestion` (did you mean) and `behind` (archived articles the
    index lacks)."""
    from indexer import search as run_search

    results = run_search(data_dir, text, filters, limit=offset + limit, sort=sort, archive=archive,
                         all_copies=all_copies)
    hits = results.hits[offset:]
    origins = {r["id"]: r["origin"] or "live" for r in archive.select_articles(
        ids=[h.id for h in hits], columns=["id", "origin"])}
    return {
        "hits": [{**hit_dict(h), "origin": origins.get(h.id, "live")} for h in hits],
        "total": results.total, "offset": offset,
        "more": len(hits) == limit and results.total > offset + limit,
        "suggestion": results.suggestion, "behind": archive.count_unindexed(),
    }


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """A crawl run with its skipped reasons and Scrapy stats as objects."""
    row = dict(run)
    row["skipped"] = json.loads(row.get("skipped") or "{}")
    row["stats"] = json.loads(row.get("stats") or "{}")
    return row


def sources(archive: Archive, registry: dict[str, Any], failed_runs: int = 3,
            quiet_days: int = 7) -> list[dict[str, Any]]:
    """Every source of the registry or the archive: its last run and outcome, articles archived,
    newest article, and what `ccnews health` says of it."""
    from ccnews.scheduler import health

    counts = {r["source"]: r for r in archive.db.query(
        "select source, count(*) as articles, max(published) as newest from articles group by source")}
    last = archive.last_runs()
    problems: dict[str, list[str]] = {}
    for p in health(archive, registry, failed_runs, quiet_days):
        problems.setdefault(p["source"], []).append(p["problem"])
    rows = []
    for sid in sorted(set(registry) | set(counts) | set(last)):
        src, run = registry.get(sid), last.get(sid)
        rows.append({
            "source": sid, "name": getattr(src, "name", None) or sid, "in_registry": src is not None,
            "homepage": getattr(src, "homepage", None),
            "articles": counts.get(sid, {}).get("articles", 0), "newest": counts.get(sid, {}).get("newest"),
            "last_run": run and {k: run.get(k) for k in ("id", "started", "finished", "outcome", "articles_new",
                                                         "pages_fetched", "errors")},
            "health": problems.get(sid, []),
        })
    return rows
