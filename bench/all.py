"""Every speed and memory figure of ccnews in one table, each against its reference measured in
the same run.

    python bench/all.py                    # the full run: about an hour and a half
    python bench/all.py --quick            # smaller sizes, a few minutes (figures not comparable)
    python bench/all.py --million          # adds the 1,000,000-article search (hours: Whoosh build)

Rows:
- pipeline pages/s (crawl, extract, archive, index) over 10,000 URLs serving the real fundus
  pages, against trafilatura alone in one process on the same pages (bench/pipeline.py --real);
- news-please on the same site, in its own virtualenv (bench/newsplease.py);
- index build docs/s and search p50/p95 at 100,000 (and 1,000,000) synthetic articles against
  SQLite FTS5 on the same corpus (bench/search.py), and `ccnews search` as a whole process;
- the memory of a 50,000-page crawl over time (bench/pipeline.py --pages).
Everything is served from and sent to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import newsplease, pipeline, search  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the benchmark itself")
    ap.add_argument("--million", action="store_true", help="also search 1,000,000 articles")
    ap.add_argument("--keep", metavar="DIR", help="keep the built search corpora in DIR and reuse them")
    ap.add_argument("--json", metavar="FILE", type=Path, help="also write every figure to FILE")
    ap.add_argument("--newsplease-pages", type=int, default=2_000,
                    help="URLs of the same site for news-please (it runs at a few pages/s: 10,000 take 40 min)")
    args = ap.parse_args()
    real, crawl_pages, sizes = (10_000, 50_000, [100_000]) if not args.quick else (600, 2_000, [5_000])
    np_pages = min(args.newsplease_pages, real)
    if args.million:
        sizes.append(1_000_000)
    rows: list[tuple[str, str, str, str]] = []
    figures: dict = {}
    started = time.perf_counter()

    p = pipeline.measure(real=real)
    figures["pipeline_real"] = p
    n = newsplease.measure(np_pages)
    figures["newsplease"] = n
    rows.append(
        (
            f"pipeline, {real:,} real pages",
            f"{p['pipeline pages/s']} pages/s",
            f"trafilatura alone {p['trafilatura alone pages/s']} pages/s",
            f"{p['ratio pipeline / trafilatura']}x",
        )
    )
    # Like with like: ccnews on the same URLs as news-please, back to back (not the 10,000-URL rate).
    same = pipeline.measure(real=np_pages)
    figures["pipeline_same_as_newsplease"] = same
    cores = os.cpu_count() or 1
    ratio = same["pipeline pages/s"] / max(n["news-please pages/s"], 0.01)
    rows.append((f"news-please, the same {np_pages:,} URLs", f"{same['pipeline pages/s']} pages/s (ccnews, "
                 f"{cores} extraction workers)", f"news-please {n['news-please pages/s']} pages/s (one process)",
                 f"{ratio:.1f}x as run, {ratio / cores:.1f}x per core"))
    rows.append(
        (f"memory, {real:,}-page crawl", _memory(p), f"news-please peak {n['news-please peak MB']} MB (RSS)", "")
    )

    for size in sizes:
        keep = Path(args.keep) / f"search-{size}" if args.keep else None
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            s = search.run(keep, size)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                s = search.run(Path(tmp), size)
        figures[f"search_{size}"] = s
        rows.append((f"index build, {size:,} articles", f"Whoosh bulk {s['whoosh_docs_s']:.0f} docs/s",
                     f"FTS5 {s['fts_docs_s']:.0f} docs/s", f"{s['whoosh_docs_s'] / s['fts_docs_s']:.3f}x"))
        rows.append(("incremental index batches", f"Whoosh sync {s['incremental_docs_s']:.0f} docs/s", "", ""))
        for name, share, w50, w95, f50, f95, overlap in s["queries"]:
            rows.append((f"{name} ({share:.0%} match), {size:,}", f"p50 {w50:.1f} ms, p95 {w95:.1f} ms",
                         f"FTS5 p50 {f50:.1f} ms, p95 {f95:.1f} ms ({overlap:.0%} of its top 20 shared)",
                         f"{w50 / max(f50, 0.01):.1f}x"))
        for word, seconds in s["whole_process_s"].items():
            rows.append((f"`ccnews search {word}`, {size:,}", f"{seconds:.2f} s whole process", "", ""))

    m = pipeline.measure(pages=crawl_pages)
    figures["pipeline_generated"] = m
    rows.append((f"memory, {crawl_pages:,}-page crawl", _memory(m),
                 f"tree RSS at 25/50/75/100%: {m['MB at 25/50/75/100% of the crawl']} MB", ""))
    rows.append(
        (
            f"pipeline, {crawl_pages:,} generated pages",
            f"{m['pipeline pages/s']} pages/s",
            f"trafilatura alone {m['trafilatura alone pages/s']} pages/s",
            f"{m['ratio pipeline / trafilatura']}x",
        )
    )

    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("figure", "ccnews", "reference (same run)", "ratio")
    widths = [max(w, len(h)) for w, h in zip(widths, head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print()
    print(f"Where the CPU of the {real:,}-URL real-page crawl went:")
    for line in p["cpu budget"]:
        print(line)
    print(f"(whole benchmark: {(time.perf_counter() - started) / 60:.0f} min)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


def _memory(p: dict) -> str:
    return (
        f"peak: largest process {p['peak MB, largest process']} MB; "
        f"tree {p['peak MB, whole process tree (RSS)']} MB RSS, "
        f"{p['peak MB, whole process tree (PSS)']} MB PSS"
    )


if __name__ == "__main__":
    main()
