"""Rebuild articles' text and metadata from their archived raw pages, without fetching again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from archive import Archive
from crawler.extract import MIN_WORDS, NotAnArticle, Page, extract_article
from crawler.registry import RegistryError, Source, parse_source
from crawler.tagging import tag


def sources_for(archive: Archive, registry: dict[str, Source]) -> tuple[dict[str, Source], list[str]]:
    """The settings to re-extract each archived source with: the registry's entry, else the one the
    archive kept from its last crawl (timezone, language, hints). Also the ids known to neither."""
    out: dict[str, Source] = {}
    unknown = []
    kept = archive.source_settings()
    for sid in archive.known_values()["sources"]:
        if sid in registry:
            out[sid] = registry[sid]
            continue
        try:
            out[sid] = parse_source(
                {k: v for k, v in kept.get(sid, {}).items() if v is not None}, f"archived source {sid}"
            )
        except RegistryError:
            unknown.append(sid)
    return out, sorted(unknown)


def reextract(
    archive: Archive,
    registry: dict[str, Source],
    sources: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    min_words: int = MIN_WORDS,
) -> Counter:
    """Re-run extraction on every archived article (of `sources`) with the settings of
    `sources_for`; returns outcome counts. A source known to neither is read as UTC."""
    registry, _unknown = sources_for(archive, registry)
    counts: Counter = Counter()
    ids = [
        r["id"]
        for r in archive.select_articles(sources=sources, columns=["id"], order="id")
    ]
    for n, article_id in enumerate(ids, 1):
        row = archive.get_articles([article_id])[article_id]
        src = registry.get(row["source"])
        pages = archive.raw_pages(article_id)
        if not pages:
            counts["no_raw_pages"] += 1
            continue
        texts = [Page(p["url"], p["body"].decode(p["encoding"] or "utf-8", errors="replace")) for p in pages]
        try:
            fields = extract_article(texts, timezone=src.timezone if src else "UTC",
                                     language=src.language if src else None, min_words=min_words,
                                     hints=src.extract if src else None, source_id=src.id if src else None)
        except NotAnArticle as exc:
            # Kept as archived: an extractor change must never delete what was collected.
            counts[f"kept_not_article_{exc.reason}"] += 1
            continue
        fields.pop("url", None)
        if fields.get("canonical_url") is None:
            fields.pop("canonical_url")
        updated = archive.update_article(article_id, fields)
        if updated:
            with archive.transaction():
                archive.set_tags(article_id, tag(fields.get("title"), fields.get("text")).as_dict(), reindex=True)
        counts["updated" if updated else "unchanged"] += 1
        if progress:
            progress(n, len(ids))
    return counts
