"""What `ccnews sources check` says of a source: per configured URL, what it gave, and what to
fix in the registry."""

from __future__ import annotations

import json
from typing import Any

from crawler.extensions import failure_reason

# Below this share of its on-site entries, a pattern is rejecting the outlet's own articles.
LOW_SHARE = 0.5


def source_report(source, summary: dict[str, Any] | None) -> dict[str, Any]:
    """One source's check: {source, ok, title, url (of the article extracted), urls: [...],
    problems: [...], suggestions: [...]}."""
    summary = summary or {}
    stats = summary.get("stats") or {}
    urls = json.loads(stats.get("ccnews/check/urls") or "[]")
    title = stats.get("ccnews/probe/title")
    problems, suggestions = [], []
    if not summary.get("pages_fetched"):
        # The site did not answer at all: one reason, nothing to fix in the registry yet.
        problems.append(summary.get("failure") or failure_reason({**summary, "stats": stats}))
        return {"source": source.id, "ok": False, "title": None, "url": None, "urls": urls,
                "problems": problems, "suggestions": []}
    found = [u for u in urls if not u.get("configured") and u.get("ok")]
    for u in urls:
        if not u.get("configured"):
            continue
        if not u.get("ok"):
            problems.append(f"{u['url']}: {u.get('problem', 'failed')}")
            if found:
                suggestions.append(f"replace {u['url']} with {found[0]['url']} (found by discovery, "
                                   f"{found[0].get('entries', 0)} entries)")
            else:
                suggestions.append(f"remove or fix {u['url']}")
            continue
        if u.get("on_site") and u.get("accepted", 0) / u["on_site"] < LOW_SHARE:
            problems.append(f"{u['url']}: article_pattern accepts {u['accepted']} of {u['on_site']} entries")
            suggestions.append(f"check article_pattern: it rejects {u.get('rejected_example')}")
    for u in found:
        if not any(s.endswith(f"{u['url']} (found by discovery, {u.get('entries', 0)} entries)") for s in suggestions):
            suggestions.append(f"add {u['url']} ({u.get('kind', 'feed')}, {u.get('entries', 0)} entries)")
    if stats.get("ccnews/stale_feeds"):
        problems.append(f"stale: {stats['ccnews/stale_feeds']}")
        suggestions.append("a stale feed: look for the outlet's current one (discovery lists what it found)")
    if summary.get("pages_fetched") and not title:
        problems.append("no article extracted")
        if not suggestions:
            suggestions.append("check article_pattern and listings against the site's current article URLs")
    return {"source": source.id, "ok": bool(title), "title": title, "url": stats.get("ccnews/probe/url"),
            "urls": urls, "problems": problems, "suggestions": suggestions}
