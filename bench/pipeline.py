"""Pages per second through the whole pipeline (crawl, extract, archive, index) against
trafilatura alone on the same pages, and the crawl's memory over time.

    python bench/pipeline.py --real 10000      # the real fundus pages, each under many URLs
    python bench/pipeline.py --pages 50000     # generated regional-outlet pages

Serves the pages from 127.0.0.1 with a sitemap, crawls them with `ccnews crawl` in a child
process (sampling the memory of its whole process tree), then runs trafilatura alone over the
same pages in one process. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
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


CORPUS = Path(os.environ.get("CCNEWS_CORPUS", REPO.parent / "shared" / "corpora" / "fundus"))


def real_site(corpus: Path, root: Path, n: int) -> tuple[Path, list[Path]]:
    """N article URLs over the corpus's real pages: page i % len(corpus) under /c{copy}/host/path."""
    from urllib.parse import urlsplit

    from archive.urls import strip_tracking
    from ccnews.sites import add_sitemap, sitemap_site

    root.mkdir(parents=True, exist_ok=True)
    entries = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text("utf-8").splitlines() if line.strip()]
    routes: dict[str, dict] = {}
    for k in range(n):
        e = entries[k % len(entries)]
        parts = urlsplit(strip_tracking(e["url"]))
        path = f"/c{k // len(entries)}/{parts.hostname}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
        routes[path] = {
            "file": str((corpus / e["file"]).resolve()),
            "gunzip": True,
            "headers": {"Content-Type": "text/html"},
        }
    # Each pass over the corpus is an outlet of its own (/c0/, /c1/...): one outlet's copies of one
    # page, same headline, same day, are rightly one article in the archive, while the same page
    # at several outlets is a syndicated story (one record per outlet, grouped), as in real news.
    listed = list(routes)
    copies: dict[str, list[str]] = {}
    for path in listed:
        copies.setdefault(path.split("/")[1], []).append(path)
    for copy, paths in copies.items():
        add_sitemap(root, routes, paths, f"sitemap-{copy}.xml")
    (root / "outlets.json").write_text(json.dumps(sorted(copies)), encoding="utf-8")
    sitemap_site(root, routes, listed)
    return root, [corpus / e["file"] for e in entries[: min(n, len(entries))]]


def _tree_memory_mb(pid: int) -> tuple[float, float, dict[int, float]]:
    """Resident memory (RSS) and proportional set size (PSS: shared pages split between the
    processes sharing them, so the sum is what the tree really holds) of a process and all its
    descendants, from /proc; and each of those processes' own peak RSS so far (VmHWM), by pid."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    totals, todo = {"VmRSS:": 0, "Pss:": 0}, [pid]
    own_peaks: dict[int, float] = {}
    while todo:
        p = todo.pop()
        for name in ("status", "smaps_rollup"):
            try:
                for fields in map(str.split, Path(f"/proc/{p}/{name}").read_text().splitlines()):
                    if fields and fields[0] in totals:
                        totals[fields[0]] += int(fields[1])
                    elif fields and fields[0] == "VmHWM:":  # this process's own peak RSS so far
                        own_peaks[p] = int(fields[1]) / 1024
            except OSError:
                pass
        todo.extend(children.get(p, []))
    return totals["VmRSS:"] / 1024, totals["Pss:"] / 1024, own_peaks


class MemorySampler(threading.Thread):
    def __init__(self, pid: int, every: float = 1.0):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples, self.pss = pid, every, [], []
        self.peaks: dict[int, float] = {}  # each process's own peak (VmHWM), by pid
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            rss, pss, own_peaks = _tree_memory_mb(self.pid)
            self.samples.append(rss)
            self.pss.append(pss)
            for p, peak in own_peaks.items():
                self.peaks[p] = max(peak, self.peaks.get(p, 0.0))


def crawl(site_root: Path, work: Path, extra: tuple[str, ...] = (), pattern: str | None = "/read/",
          ) -> tuple[float, int, float, list[float]]:
    from ccnews.sites import SiteServer

    server = SiteServer(site_root).start()
    try:
        reg = work / "sources.toml"
        outlets = json.loads((site_root / "outlets.json").read_text()) if (site_root / "outlets.json").exists() \
            else [None]
        reg.write_text("".join(
            f'[[source]]\nid = "bench{"-" + o if o else ""}"\nname = "Bench {o or ""}"\n'
            f'homepage = "{server.base}/{o or ""}"\ntimezone = "Asia/Jakarta"\n'
            f'sitemaps = ["{server.base}/{"sitemap-" + o + ".xml" if o else "sitemap.xml"}"]\ndelay = 0.0\n'
            + (f'article_pattern = "{pattern}"\n' if pattern else "") + "\n"
            for o in outlets), "utf-8")
        env = {**os.environ, "CCNEWS_DATA": str(work / "data"), "CCNEWS_SOURCES": str(reg)}
        t0 = time.perf_counter()
        cpu0 = _children_cpu()
        log = open(work / "crawl.log", "w+")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ccnews", "crawl", "--all", "-s", "AUTOTHROTTLE_ENABLED=False",
             "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "-s", f"CCNEWS_CPU_REPORT={work / 'cpu.json'}",
             *[a for kv in extra for a in ("-s", kv)]],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        )
        sampler = MemorySampler(proc.pid)
        sampler.start()
        proc.wait()
        sampler.done.set()
        elapsed = time.perf_counter() - t0
        tree_cpu = _children_cpu() - cpu0  # every process of the crawl, each waited for by its parent
        if proc.returncode != 0:
            log.seek(0)
            raise SystemExit(log.read()[-3000:])
    finally:
        server.stop()
    import sqlite3

    with sqlite3.connect(work / "data" / "archive.db") as db:
        n = db.execute("select count(*) from articles").fetchone()[0]
    # Each process's own peak, sampled while it ran (RUSAGE_CHILDREN would be the largest of every
    # child this benchmark ever waited for, earlier runs included).
    budget = json.loads((work / "cpu.json").read_text())
    roles = {pid: name for name, p in budget["processes"].items() for pid in p.get("pids", [])}
    peak_mb = sorted(((peak, roles.get(pid, "other")) for pid, peak in sampler.peaks.items()), reverse=True)
    budget["tree_cpu_s"] = tree_cpu
    return elapsed, n, peak_mb, sampler.samples, sampler.pss, budget


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def budget_table(budget: dict, elapsed: float) -> list[str]:
    """The crawl's CPU per page by process and stage, its total, and the machine's ceiling."""
    pages = max(1, budget["pages"])
    lines = [f"{'CPU ms per page (' + str(budget['pages']) + ' pages fetched)':70} {'ms':>7}"]
    total = 0.0
    for name, proc in budget["processes"].items():
        ms = proc["cpu_s"] * 1000 / pages
        total += ms
        lines.append(f"{name + ' (' + str(proc['count']) + ')':70} {ms:7.2f}")
        for stage, seconds in sorted(proc["stages"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {stage:68} {seconds * 1000 / pages:7.2f}")
    rate = budget["pages"] / elapsed
    ceiling = budget["cores"] * 1000 / total
    lines += [
        f"{'total CPU per page (sum of the processes)':70} {total:7.2f}",
        f"{'  the same from the OS (RUSAGE_CHILDREN of the whole tree)':70} {budget['tree_cpu_s'] * 1000 / pages:7.2f}",
        f"{'pages/s as run (pages fetched / wall seconds)':70} {rate:7.1f}",
        f"{'ceiling pages/s (' + str(budget['cores']) + ' cores / total CPU per page)':70} {ceiling:7.1f}",
        f"{'share of the ceiling reached':70} {rate / ceiling:7.0%}",
    ]
    return lines


def trafilatura_alone(site_root: Path, real: list[Path] | None = None) -> tuple[float, int]:
    """trafilatura's bare_extraction with metadata, one process, over the same pages (each real
    page once: the copies are the same bytes)."""
    import gzip

    import trafilatura

    from crawler.extract import TRAFILATURA_OPTIONS

    if real:
        htmls = [trafilatura.utils.decode_file(gzip.decompress(f.read_bytes())) for f in real]
    else:
        files = sorted((site_root / "pages").glob("a*-p1.html"))
        htmls = [f.read_text("utf-8") for f in files]
    t0 = time.perf_counter()
    for h in htmls:
        trafilatura.bare_extraction(h, **TRAFILATURA_OPTIONS)  # the options the crawl gives it
    return time.perf_counter() - t0, len(htmls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--pages", type=int, help="generated pages (default 2000)")
    group.add_argument("--real", type=int, metavar="N", help="N URLs over the real pages of the corpus")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a Scrapy or ccnews setting for the crawl (repeatable), to compare settings")
    args = ap.parse_args()
    figures = measure(pages=args.pages, real=args.real, corpus=args.corpus, settings=tuple(args.set))
    for line in figures.pop("cpu budget"):
        print(line)
    print()
    for key, value in figures.items():
        print(f"{key:38} {value}")


def measure(pages: int | None = None, real: int | None = None, corpus: Path = CORPUS,
            settings: tuple[str, ...] = ()) -> dict:
    if pages is None and real is None:
        pages = 2000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if real:
            site_root, files = real_site(corpus, work / "site", real)
            extra = ("CCNEWS_MIN_WORDS=10", *settings)
        else:
            (site_root, _), files = build(work / "site", pages), None
            extra = settings
        crawl_s, stored, peak_mb, samples, pss, budget = crawl(site_root, work, extra, None if real else "/read/")
        alone_s, n_alone = trafilatura_alone(site_root, files)
    pipeline_rate = stored / crawl_s
    alone_rate = n_alone / alone_s
    cores = os.cpu_count() or 1  # ccnews extracts in one worker per core; trafilatura here in one process
    quarter = [samples[min(len(samples) - 1, int(len(samples) * f))] for f in (0.25, 0.5, 0.75, 1.0)] if samples else []
    return {
        "pages served": real or pages,
        "articles archived": stored,
        "pipeline pages/s": round(pipeline_rate, 1),
        "crawl seconds": round(crawl_s, 1),
        "trafilatura alone pages/s": round(alone_rate, 1),
        "ratio pipeline / trafilatura": round(pipeline_rate / alone_rate, 2),
        f"ratio per core ({cores} cores vs one process)": round(pipeline_rate / cores / alone_rate, 2),
        "peak MB, whole process tree (RSS)": round(max(samples or [0]), 1),
        "peak MB, whole process tree (PSS)": round(max(pss or [0]), 1),
        "peak MB, largest process": round(max((m for m, _ in peak_mb), default=0.0), 1),
        "peak MB of each process": " / ".join(f"{m:.0f} {role}" for m, role in peak_mb),
        "MB at 25/50/75/100% of the crawl": " / ".join(f"{m:.0f}" for m in quarter),
        "cpu budget": budget_table(budget, crawl_s),
    }


if __name__ == "__main__":
    main()
