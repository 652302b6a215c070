"""Extraction quality on real pages: title, date and body agreement with the expected fields.

Used by tests/test_corpus.py (which asserts floors) and runnable on its own:
    python bench/quality.py [--corpus ../shared/corpora/fundus]
It crawls the corpus served from 127.0.0.1 through `ccnews crawl`, and also runs trafilatura
alone on the same pages, and prints both.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_CORPUS = Path(os.environ.get("CCNEWS_CORPUS", REPO.parent / "shared" / "corpora" / "fundus"))

REGISTRY = """[[source]]
id = "corpus"
name = "Stored real news pages"
homepage = "{base}/"
language = "en"
timezone = "UTC"
sitemaps = ["{base}/sitemap.xml"]
delay = 0.0
"""


def tokens(text: str) -> Counter:
    return Counter(re.findall(r"\w+", (text or "").lower()))


def f1(got: str, expected: str) -> float:
    g, e = tokens(got), tokens(expected)
    if not g or not e:
        return 0.0
    common = sum((g & e).values())
    if not common:
        return 0.0
    p, r = common / sum(g.values()), common / sum(e.values())
    return 2 * p * r / (p + r)


def norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def same_day(got: str | None, expected: str | None) -> bool:
    if not got or not expected:
        return False
    exp = datetime.fromisoformat(expected)
    ours = datetime.fromisoformat(got)
    if exp.tzinfo and ours.tzinfo:
        ours = ours.astimezone(exp.tzinfo)
    return ours.date() == exp.date()


def crawl_corpus(corpus: Path, workdir: Path) -> tuple[list[dict], dict[str, dict], float]:
    from ccnews.sites import SiteServer, stored_pages_site

    root, entries = stored_pages_site(corpus, workdir / "site")
    server = SiteServer(root).start()
    try:
        reg = workdir / "sources.toml"
        reg.write_text(REGISTRY.format(base=server.base), "utf-8")
        env = {**os.environ, "CCNEWS_DATA": str(workdir / "data"), "CCNEWS_SOURCES": str(reg)}
        t0 = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "ccnews", "crawl", "corpus", "-s", "AUTOTHROTTLE_ENABLED=False",
             "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "-s", "CCNEWS_MIN_WORDS=10"],
            env=env, capture_output=True, text=True, timeout=1200, cwd=REPO,
        )
        elapsed = time.perf_counter() - t0
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-3000:])
        import sqlite_utils

        db = sqlite_utils.Database(workdir / "data" / "archive.db")
        # By every URL an article was reached at: two captures of one article (the corpus holds
        # some pages twice, years apart) are one record, found from either.
        rows = {r["url"].split("/", 3)[3]: r for r in db.query(
            "select u.url, a.title, a.text, a.published from article_urls u join articles a on a.id = u.article_id")}
        base = server.base
    finally:
        server.stop()
    got = {}
    for e in entries:
        key = (base + e["path"]).split("/", 3)[3]
        got[e["file"]] = rows.get(key)
    return entries, got, elapsed


def trafilatura_alone(corpus: Path, entries: list[dict]) -> dict[str, str]:
    import gzip

    import trafilatura

    out = {}
    for e in entries:
        raw = gzip.decompress((corpus / e["file"]).read_bytes())
        out[e["file"]] = trafilatura.extract(raw, url=e["url"], include_comments=False, include_tables=True) or ""
    return out


def trafilatura_dates(corpus: Path, entries: list[dict]) -> dict[str, str | None]:
    """The publication date trafilatura alone gives (htmldate, original_date mode), per page."""
    import gzip

    import trafilatura

    out = {}
    for e in entries:
        raw = gzip.decompress((corpus / e["file"]).read_bytes())
        doc = trafilatura.bare_extraction(raw, url=e["url"], with_metadata=True,
                                          date_extraction_params={"original_date": True, "extensive_search": True})
        out[e["file"]] = getattr(doc, "date", None) if doc is not None else None
    return out


def measure(corpus: Path = DEFAULT_CORPUS, reference: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        entries, got, elapsed = crawl_corpus(corpus, Path(tmp))
    alone = trafilatura_alone(corpus, entries) if reference else {}
    alone_dates = trafilatura_dates(corpus, entries) if reference else {}
    titles, dates, bodies, ref_bodies, missing = [], [], [], [], []
    dated = 0
    for e in entries:
        row = got.get(e["file"])
        if e["publishing_date"]:
            dated += 1
        if row is None:
            missing.append(e["file"])
            bodies.append(0.0)
            titles.append(False)
            dates.append(False)
        else:
            titles.append(norm(row["title"]) == norm(e["title"]))
            dates.append(same_day(row["published"], e["publishing_date"]) if e["publishing_date"] else None)
            bodies.append(f1(row["text"], e["body_text"]))
        if reference:
            ref_bodies.append(f1(alone[e["file"]], e["body_text"]))
    dated_hits = [d for d in dates if d is not None]
    return {
        "pages": len(entries),
        "archived": len(entries) - len(missing),
        "missing": missing,
        "title_exact": sum(titles) / len(entries),
        "date_same_day": sum(dated_hits) / max(1, dated),
        "body_f1_mean": statistics.fmean(bodies),
        "body_f1_median": statistics.median(bodies),
        "body_f1_archived_mean": statistics.fmean(
            [b for b, e in zip(bodies, entries) if e["file"] not in missing] or [0]
        ),
        "trafilatura_alone_f1_mean": statistics.fmean(ref_bodies) if ref_bodies else None,
        "trafilatura_alone_date_same_day": (
            sum(
                bool(alone_dates.get(e["file"]) and same_day(alone_dates[e["file"]], e["publishing_date"]))
                for e in entries
                if e["publishing_date"]
            )
            / max(1, dated)
        )
        if reference
        else None,
        "crawl_seconds": elapsed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()
    m = measure(args.corpus)
    for k, v in m.items():
        if k == "missing":
            print(f"{'not archived':28} {len(v)}: {', '.join(v[:10])}{' ...' if len(v) > 10 else ''}")
        elif isinstance(v, float):
            print(f"{k:28} {v:.3f}")
        else:
            print(f"{k:28} {v}")
    if m["trafilatura_alone_f1_mean"]:
        print(f"{'pipeline / trafilatura F1':28} {m['body_f1_mean'] / m['trafilatura_alone_f1_mean']:.3f}")


if __name__ == "__main__":
    main()
