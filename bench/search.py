"""Index build rate and search latency at N synthetic articles, with SQLite FTS5 on the same corpus
as the reference; and the whole-process time of `ccnews search`.

    python bench/search.py --articles 100000

Prints p50 and p95 per query kind (50 runs each) and the ratio to FTS5.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

COMMON = ("kota kreatif batik pekalongan unesco jejaring kerajinan kesenian rakyat festival pameran perajin motif "
          "desain musik sastra kuliner wisata budaya ekonomi pemerintah wali warga pelatihan promosi komunitas "
          "anak muda pasar galeri museum tradisi warisan dunia delegasi").split()


def corpus(n: int, seed: int = 5):
    rng = random.Random(seed)
    vocab = COMMON + [f"kata{i}" for i in range(20_000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]  # Zipf-like
    start = datetime(2020, 1, 1, tzinfo=timezone(timedelta(hours=7)))
    for i in range(n):
        words = rng.choices(vocab, weights=weights, k=250)
        yield {
            "id": i + 1, "url": f"http://127.0.0.1/read/{i}/a", "url_key": f"127.0.0.1/read/{i}/a",
            "source": f"src{i % 20}", "title": " ".join(rng.choices(vocab[:400], k=8)), "text": " ".join(words),
            "published": (start + timedelta(minutes=37 * i)).isoformat(), "language": "id",
            "authors": "[]", "tags": "[]", "cities": "[]", "fields": "[]", "relevance": 0.0,
            "content_hash": str(i), "indexed": 0, "group_id": i + 1,
        }


def timed(fn, runs: int = 50) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    # The 95th percentile, interpolated between samples (with 10 runs it is near the slowest).
    return statistics.median(samples), statistics.quantiles(samples, n=100, method="inclusive")[94]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=20_000)
    ap.add_argument("--keep", metavar="DIR", help="build into DIR and keep it; reuse it when already built")
    ap.add_argument("--build-only", action="store_true", help="with --keep: build, do not measure")
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        result = run(Path(args.keep), args.articles, args.build_only)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(Path(tmp), args.articles, args.build_only)
    if result:
        report(result)


def build(data: Path, n: int) -> dict:
    """The archive of N synthetic articles, its Whoosh index and an FTS5 table, each build timed;
    reused when DATA already holds them (the Whoosh index is rebuilt if its version changed)."""
    from archive import Archive
    from indexer import IndexProblem, doc_count, rebuild

    built = data / "built.json"
    figures = json.loads(built.read_text()) if built.exists() else {}
    with Archive(data) as archive:
        if figures.get("articles") != n:
            t0 = time.perf_counter()
            archive.db["articles"].insert_all(corpus(n), batch_size=2000)
            figures = {"articles": n, "load_s": time.perf_counter() - t0}
            t0 = time.perf_counter()
            archive.db["articles"].enable_fts(["title", "text"], create_triggers=False, tokenize="unicode61")
            figures["fts_docs_s"] = n / (time.perf_counter() - t0)
        try:
            doc_count(data)
        except IndexProblem:  # not built yet, or by an older schema
            t0 = time.perf_counter()
            rebuild(archive, data)
            figures["whoosh_docs_s"] = n / (time.perf_counter() - t0)
        built.write_text(json.dumps(figures))
    return figures


def incremental(data: Path, n: int, added: int = 2000) -> float:
    """docs/s of `sync`, the crawl's own path, adding `added` articles to the index of `n` (the
    size in the table); they are removed again afterwards, so a kept index stays as it was."""
    from archive import Archive
    from indexer import sync, verify

    extra = [{**row, "id": row["id"] + n, "url": row["url"] + "-new", "url_key": row["url_key"] + "-new",
              "content_hash": f"new{row['id']}", "group_id": row["id"] + n} for row in corpus(added, seed=11)]
    with Archive(data) as archive:
        archive.db["articles"].insert_all(extra, batch_size=2000)
        t0 = time.perf_counter()
        sync(archive, data)
        rate = added / (time.perf_counter() - t0)
        archive.db.execute("delete from articles where id > ?", [n])
        archive.db.conn.commit()
        verify(archive, data)  # takes the added articles out of the index again
    return rate


def bench_queries() -> dict[str, tuple]:
    """The measured queries: name -> (query, filters, sort, the same for FTS5, its SQL filter)."""
    from indexer import Filters

    since = datetime(2021, 1, 1, tzinfo=UTC)
    until = datetime(2021, 6, 30, tzinfo=UTC)
    # Frequent words are the worst case: in this Zipf corpus they are in 88-100% of the articles,
    # so nearly every article is a match to score. Typical words are in 1-20%, as a place or a
    # craft is in a real archive.
    return {
        "single term": ("pameran", None, "relevance", "pameran", ""),
        "two terms": ("batik festival", None, "relevance", "batik festival", ""),
        "phrase": ('"kota kreatif"', None, "relevance", '"kota kreatif"', ""),
        "term + source": ("pameran", Filters(sources=("src3",)), "relevance", "pameran", " and a.source = 'src3'"),
        "term + date range": ("pameran", Filters(since=since, until=until), "relevance", "pameran",
                              " and a.published between '2021-01-01' and '2021-06-30'"),
        "sorted by date": ("pameran", None, "date", "pameran", ""),
        "typical single term": ("kata436", None, "relevance", "kata436", ""),
        "typical two terms": ("kata67 kata436", None, "relevance", "kata67 kata436", ""),
        "typical phrase": ('"kota kata67"', None, "relevance", '"kota kata67"', ""),
        # Two rare words: no word-pair term, so Whoosh checks positions.
        "rare-word phrase": ('"kata67 kata436"', None, "relevance", '"kata67 kata436"', ""),
        "typical + source": ("kata436", Filters(sources=("src3",)), "relevance", "kata436", " and a.source = 'src3'"),
        "typical + date range": ("kata436", Filters(since=since, until=until), "relevance", "kata436",
                                 " and a.published between '2021-01-01' and '2021-06-30'"),
        "typical by date": ("kata436", None, "date", "kata436", ""),
    }


def run(data: Path, n: int, build_only: bool = False) -> dict | None:
    from archive import Archive
    from indexer import search

    figures = build(data, n)
    if build_only:
        return None
    queries = bench_queries()
    rows = []
    with Archive(data) as archive:
        db = archive.db
        for name, (q, filters, sort, fts_q, where) in queries.items():
            runs = 50 if n <= 200_000 else 10  # a frequent two-word query takes seconds at 10^6
            w50, w95 = timed(lambda: search(data, q, filters, limit=20, sort=sort, snippets=False), runs)
            order = "a.published desc" if sort == "date" else "rank"
            sql = (f"select a.id from articles_fts f join articles a on a.rowid = f.rowid where articles_fts match ?"
                   f"{where} order by {order} limit 20")
            f50, f95 = timed(lambda: list(db.execute(sql, [fts_q])), runs)
            matched = db.execute(f"select count(*) from articles_fts f join articles a on a.rowid = f.rowid "
                                 f"where articles_fts match ?{where}", [fts_q]).fetchone()[0]
            # Equivalent answers? The share of FTS5's top 20 that Whoosh also returns in its top 20
            # (rankings differ: BM25F with field boosts against FTS5's bm25; ordered by date they agree).
            ours = {h.id for h in search(data, q, filters, limit=20, sort=sort, snippets=False, all_copies=True).hits}
            theirs = {r[0] for r in db.execute(sql, [fts_q])}
            overlap = len(ours & theirs) / max(1, len(theirs))
            rows.append((name, matched / n, w50, w95, f50, f95, overlap))
    whole = {word: whole_process(data, word) for word in ("kata436", "pameran")}
    return {"articles": n, **figures, "incremental_docs_s": incremental(data, n), "queries": rows,
            "whole_process_s": whole}


def whole_process(data: Path, word: str) -> float:
    """Median seconds of `ccnews search WORD` as a process, as installed (pip writes bytecode, so
    modules are not compiled again at each start)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "ccnews-bench-pycache")
    times = []
    for i in range(6):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ccnews", "search", word, "--data-dir", str(data)],
                       cwd=REPO, capture_output=True, check=True, env=env)
        if i:  # the first run writes the bytecode
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(r: dict) -> None:
    print(f"articles {r['articles']}")
    print(f"index build docs/s: Whoosh bulk {r['whoosh_docs_s']:.0f}, incremental {r['incremental_docs_s']:.0f}; "
          f"FTS5 {r['fts_docs_s']:.0f} (bulk ratio {r['whoosh_docs_s'] / r['fts_docs_s']:.3f})")
    print(f"{'query':22} {'matches':>8} {'whoosh p50':>11} {'p95':>8} {'fts5 p50':>9} {'p95':>8} {'ratio p50':>10} "
          f"{'top-20 shared':>13}")
    for name, share, w50, w95, f50, f95, overlap in r["queries"]:
        print(
            f"{name:22} {share:7.1%} {w50:9.1f}ms {w95:6.1f}ms {f50:7.1f}ms {f95:6.1f}ms {w50 / max(f50, 0.01):9.1f}x "
            f"{overlap:12.0%}"
        )
    for word, seconds in r["whole_process_s"].items():
        print(f"`ccnews search {word}` whole process (start, open, query, print the table): median {seconds:.2f} s")


if __name__ == "__main__":
    main()
