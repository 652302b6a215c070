"""kill -9 at random moments of a crawl, of `reindex` and of `reextract`.

    python bench/crash.py --trials 20

After every kill: `PRAGMA integrity_check` passes, no article committed before is gone, every
article has its raw pages, and search answers (results, or a clear message). At the end one
ordinary crawl brings the index back in step with the archive, without a rebuild.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
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


def kill_at_random(cmd: list[str], env: dict, low: float, high: float, rng: random.Random) -> float:
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    delay = rng.uniform(low, high)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()  # SIGKILL
        proc.wait()
    return delay


def run(trials: int, work: Path, seed: int = 11, pages: int = 300, say=print) -> dict:
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
    kills = {"crawl": 0, "reindex": 0, "reextract": 0}
    try:
        for n in range(trials):
            kill_at_random(crawl + ["-s", "CCNEWS_REFETCH_KNOWN=True"], env, 0.5, 6.0, rng)
            if (data / "archive.db").exists():
                urls = check(data, urls)
            kills["crawl"] += 1
        subprocess.run(crawl, cwd=REPO, env=env, capture_output=True, check=True, timeout=600)
        urls = check(data, urls)
        for kind, cmd in (("reindex", ["reindex"]), ("reextract", ["reextract"])):
            for n in range(trials):
                kill_at_random([sys.executable, "-m", "ccnews", *cmd], env, 0.3, 4.0, rng)
                urls = check(data, urls)
                kills[kind] += 1
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
    return {"kills": kills, "articles": total, "index_in_step": in_step, "leftover_processes": leftover}


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
    print(f"kill -9 trials: {result['kills']}; archive passed every check; articles {result['articles']}; "
          f"index in step after one crawl: {result['index_in_step']}; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
