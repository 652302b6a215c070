"""Pages per second through the whole pipeline (crawl, extract, archive, index) against
trafilatura alone on the same pages, and the crawl's peak memory.

    python bench/pipeline.py --pages 2000

Generates N article pages in the shape of a regional outlet, serves them from 127.0.0.1 with a
sitemap, crawls them with `ccnews crawl` in a child process, then runs trafilatura alone over the
same pages in this process. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

WORDS = (
    "kota kreatif batik pekalongan unesco jejaring kerajinan kesenian rakyat festival pameran "
    "perajin motif desain musik sastra kuliner wisata budaya ekonomi pemerintah wali warga "
    "pelatihan promosi komunitas anak muda pasar galeri museum tradisi warisan dunia delegasi"
).split()


def paragraph(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def build(root: Path, n: int, seed: int = 7):
    from ccnews.sites import SiteArticle, SiteSpec, build_site

    rng = random.Random(seed)
    arts = []
    for i in range(n):
        day = 1 + i % 28
        arts.append(SiteArticle(
            path=f"/read/{100000 + i}/berita-kota-kreatif-{i}",
            title=f"Berita kota kreatif nomor {i}: " + paragraph(rng, 6)[:-1],
            pages=[[paragraph(rng, rng.randint(40, 90)) for _ in range(rng.randint(4, 9))]],
            published=f"2024-{1 + i % 12:02d}-{day:02d}T10:00:00+07:00",
            shown_date=f"{day} Maret 2024", byline="Reporter: Bench", in_feed=False, in_listing=False,
        ))
    spec = SiteSpec(name="Bench Outlet", lang="id", articles=arts, per_listing_page=50)
    return build_site(root, spec), arts


def crawl(site_root: Path, work: Path) -> tuple[float, int, float]:
    from ccnews.sites import SiteServer

    server = SiteServer(site_root).start()
    try:
        reg = work / "sources.toml"
        reg.write_text(
            f'[[source]]\nid = "bench"\nname = "Bench"\nhomepage = "{server.base}/"\ntimezone = "Asia/Jakarta"\n'
            f'sitemaps = ["{server.base}/sitemap.xml"]\narticle_pattern = "/read/"\ndelay = 0.0\n', "utf-8")
        env = {**os.environ, "CCNEWS_DATA": str(work / "data"), "CCNEWS_SOURCES": str(reg)}
        t0 = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "ccnews", "crawl", "bench", "-s", "AUTOTHROTTLE_ENABLED=False",
             "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"],
            env=env, capture_output=True, text=True, cwd=REPO,
        )
        elapsed = time.perf_counter() - t0
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
    finally:
        server.stop()
    import sqlite_utils

    n = sqlite_utils.Database(work / "data" / "archive.db")["articles"].count
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, n, peak_mb


def trafilatura_alone(site_root: Path) -> tuple[float, int]:
    import trafilatura

    files = sorted((site_root / "pages").glob("a*-p1.html"))
    htmls = [f.read_text("utf-8") for f in files]
    t0 = time.perf_counter()
    for h in htmls:
        trafilatura.bare_extraction(h, with_metadata=True)
    return time.perf_counter() - t0, len(htmls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        site_root, _ = build(work / "site", args.pages)
        crawl_s, stored, peak_mb = crawl(site_root, work)
        alone_s, n_alone = trafilatura_alone(site_root)
    pipeline_rate = stored / crawl_s
    alone_rate = n_alone / alone_s
    print(f"{'pages generated':34} {args.pages}")
    print(f"{'articles archived':34} {stored}")
    print(f"{'pipeline (whole process) pages/s':34} {pipeline_rate:8.1f}   ({crawl_s:.1f} s)")
    print(f"{'trafilatura alone pages/s':34} {alone_rate:8.1f}   ({alone_s:.1f} s)")
    print(f"{'ratio pipeline / trafilatura':34} {pipeline_rate / alone_rate:8.2f}")
    print(f"{'crawl peak RSS MB':34} {peak_mb:8.1f}")


if __name__ == "__main__":
    main()
