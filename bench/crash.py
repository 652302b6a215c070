"""kill -9 in the write phase of a crawl, of `reindex` and of `reextract`.

    python bench/crash.py --trials 20

A kill counts only when it lands in a live process after the archive (new rows, rewritten rows)
or the index being built has grown in that run; the figures printed are those kills. After every
kill: `PRAGMA integrity_check` passes, no article committed before is gone, every
article has its raw pages, and search answers (results, or a clear message). At the end one
ordinary crawl brings the index back in step with the archive, without a rebuild.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def check(data: Path, before: set[str]) -> set[str]:
    with sqlite3.connect(data / "archive.db", timeout=30) as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok", "integrity_check failed"
        urls = {r[0] for r in db.execute("select url from articles")}
        orphans = db.execute("select count(*) from articles a where not exists "
                             "(select 1 from raw_pages p where p.article_id = a.id)").fetchone()[0]
    assert before <= urls, f"lost {len(before - urls)} committed article(s)"
    assert orphans == 0, f"{orphans} article(s) without raw pages"
    result = subprocess.run([sys.executable, "-m", "ccnews", "search", "batik", "--json", "--data-dir", str(data)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr[-1500:]
    assert result.returncode == 0 or len(result.stderr.strip().splitlines()) == 1, result.stderr
    return urls


def articles_written(data: Path) -> int:
    """Rows the archive holds (0 before it exists): a crawl's write phase has begun once it grows."""
    try:
        with sqlite3.connect(f"file:{data / 'archive.db'}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("select count(*) from articles").fetchone()[0]
    except sqlite3.Error:
        return 0


def rows_rewritten(data: Path) -> int:
    """Articles whose text re-extraction has written back (the bench blanks them first)."""
    try:
        with sqlite3.connect(f"file:{data / 'archive.db'}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("select count(*) from articles where text != 'x'").fetchone()[0]
    except sqlite3.Error:
        return 0


def index_bytes(data: Path) -> int:
    """Bytes of the index a rebuild is writing beside the live one (it exists only while it does)."""
    fresh = data / "index.new"
    try:
        return sum(f.stat().st_size for f in fresh.iterdir())
    except OSError:
        return 0


def kill_mid_write(cmd: list[str], env: dict, written: Callable[[], int], rng: random.Random,
                   max_delay: float = 0.3, timeout: float = 300) -> tuple[bool, int]:
    """Start `cmd`; once `written()` has grown past its value at the start (the command is writing),
    wait a random moment more and SIGKILL it if it is still running. Returns whether the kill landed
    in a live process that had written in this run (False when it finished first: not counted), and
    the last value seen before the kill: what was committed then must still be there after it."""
    start = seen = written()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and seen <= start and time.monotonic() < deadline:
        time.sleep(0.01)
        seen = written()
    if proc.poll() is None:
        time.sleep(rng.uniform(0.0, max_delay))
        seen = written()
    alive = proc.poll() is None
    if alive:
        proc.kill()  # SIGKILL
    proc.wait()
    return alive and seen > start, seen


def run(trials: int, work: Path, seed: int = 11, pages: int = 300, max_delay: float = 0.3, say=print) -> dict:
    from bench.pipeline import build
    from ccnews.sites import SiteServer

    rng = random.Random(seed)
    site_root, _ = build(work / "site", pages)
    server = SiteServer(site_root).start()
    reg = work / "sources.toml"
    reg.write_text(f'[[source]]\nid = "bench"\nname = "Bench"\nhomepage = "{server.base}/"\ntimezone = "Asia/Jakarta"\n'
                   f'sitemaps = ["{server.base}/sitemap.xml"]\narticle_pattern = "/read/"\ndelay = 0.0\n', "utf-8")
    data = work / "data"
    env = {**os.environ, "CCNEWS_DATA": str(data), "CCNEWS_SOURCES": str(reg)}
    crawl = [sys.executable, "-m", "ccnews", "crawl", "bench", "-s", "AUTOTHROTTLE_ENABLED=False",
             "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=4"]
    urls: set[str] = set()
    kills = {"crawl": 0, "reindex": 0, "reextract": 0}  # kills that landed mid-write
    tries = dict.fromkeys(kills, 0)
    try:
        # Each try crawls into a fresh archive (new rows are the write phase), killed once it grew.
        for n in range(trials):
            tries["crawl"] += 1
            for leftover in data.parent.glob(data.name + "*"):
                shutil.rmtree(leftover, ignore_errors=True)
            landed, seen = kill_mid_write(crawl, env, lambda: articles_written(data), rng, max_delay)
            if landed:
                kills["crawl"] += 1
                check(data, set())
                assert articles_written(data) >= seen, "a committed article was lost"
        subprocess.run(crawl, cwd=REPO, env=env, capture_output=True, check=True, timeout=600)
        urls = check(data, set())
        for kind, cmd, written in (("reindex", ["reindex"], lambda: index_bytes(data)),
                                   ("reextract", ["reextract"], lambda: rows_rewritten(data))):
            for n in range(trials):
                tries[kind] += 1
                if kind == "reextract":
                    # Blank every text, so re-extraction rewrites every row (its write phase).
                    with sqlite3.connect(data / "archive.db", timeout=30) as db:
                        db.execute("update articles set text = 'x'")
                landed, seen = kill_mid_write([sys.executable, "-m", "ccnews", *cmd], env, written, rng, max_delay)
                kills[kind] += landed
                urls = check(data, urls)
                if kind == "reextract":
                    assert rows_rewritten(data) >= seen, "a committed re-extraction was lost"
        # Texts a killed re-extraction left blank come back with one complete run.
        subprocess.run([sys.executable, "-m", "ccnews", "reextract"], cwd=REPO, env=env, capture_output=True,
                       check=True, timeout=600)
        # One ordinary crawl afterwards: it indexes what the interrupted runs left unindexed.
        subprocess.run(crawl, cwd=REPO, env=env, capture_output=True, check=True, timeout=600)
        check(data, urls)
        from archive import Archive
        from indexer import doc_count

        with Archive(data) as archive:
            in_step = archive.count_unindexed() == 0 and doc_count(data) == archive.count_articles()
            total = archive.count_articles()
        leftover = leftover_processes(str(data))
    finally:
        server.stop()
    return {"kills": kills, "tries": tries, "articles": total, "index_in_step": in_step,
            "leftover_processes": leftover}


def leftover_processes(data: str, wait_s: float = 20.0) -> list[int]:
    """Processes still running for this data directory (extraction workers, the indexer beside
    the crawl) once every killed command is gone: they must exit on their own."""
    needle = f"CCNEWS_DATA={data}".encode()
    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if needle in environ.read_bytes().split(b"\0"):
                    found.append(int(environ.parent.name))
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--pages", type=int, default=300)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.trials, Path(tmp), pages=args.pages)
    print(f"processes left running after the kills: {len(result['leftover_processes'])}")
    print(f"kill -9 mid-write: {result['kills']} of {result['tries']} tries (the others finished before the "
          f"kill); archive passed every check; articles {result['articles']}; "
          f"index in step after one crawl: {result['index_in_step']}; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
