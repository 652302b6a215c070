"""news-please on the same 127.0.0.1 site as bench/pipeline.py, for a side-by-side pages/s ratio.

    python bench/newsplease.py --real 2000     # then ccnews on the same URLs, and the ratios

news-please is installed by this script in its own virtualenv (it pins its own Scrapy and
newspaper4k); the first run takes a minute or two for that. It crawls the site through its
SitemapCrawler with the same concurrency as ccnews, keeps every page (its article heuristics
off, so both tools extract the same pages), and writes JSON files; pages/s counts those files.

Nothing leaves the machine: every proxy variable points at 127.0.0.1:9 (closed) except for
127.0.0.1 itself, and tldextract is given its bundled suffix list instead of fetching one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.pipeline import CORPUS, MemorySampler, real_site  # noqa: E402

VERSION = "1.6.16"
VENV = Path(tempfile.gettempdir()) / f"ccnews-newsplease-{hashlib.sha1(VERSION.encode()).hexdigest()[:8]}"

CONFIG = """[Crawler]
default = SitemapCrawler
fallbacks = {{"SitemapCrawler": None}}
check_crawler_has_urls_to_scan = False
check_certificate = False
hours_to_pass_for_redownload_by_rss_crawler = 6
number_of_parallel_crawlers = 1
number_of_parallel_daemons = 1
ignore_file_extensions = "(pdf)|(jpe?g)|(png)|(gif)|(css)"
ignore_regex = "(mail[tT]o)|([jJ]avascript)|(tel)|(fax)"
sitemap_allow_subdomains = True
sitemap_patterns = []
[Heuristics]
enabled_heuristics = {{"og_type": True}}
pass_heuristics_condition = "og_type or not og_type"
min_headlines_for_linked_test = 5
[Files]
relative_to_start_processes_file = False
url_input_file_name = sitelist.hjson
working_path = {work}
local_data_directory = %working_path/data/%appendmd5_url_directory_string(60)_%appendmd5_max_url_file_name_%timestamp_download.html
format_relative_path = True
[MySQL]
host = localhost
port = 3306
db = 'news-please'
username = 'root'
password = 'password'
[Postgresql]
host = localhost
port = 5432
database = 'news-please'
user = 'root'
password = 'password'
[Elasticsearch]
host = localhost
port = 9200
index_current = 'news-please'
index_archive = 'news-please-archive'
use_ca_certificates = False
ca_cert_path = /dev/null
client_cert_path = /dev/null
client_key_path = /dev/null
username = 'root'
secret = 'password'
mapping = {{}}
[Redis]
host = localhost
port = 6379
db = 0
enable_archive = False
ttl = -1
dangerously_flush_db = False
[ArticleMasterExtractor]
extractors = ['newspaper_extractor', 'readability_extractor', 'date_extractor', 'lang_detect_extractor']
[DateFilter]
start_date = None
end_date = None
strict_mode = False
[Scrapy]
LOG_LEVEL = INFO
LOG_FORMAT = [%(name)s:%(lineno)d|%(levelname)s] %(message)s
LOG_FILE = None
LOG_DATEFORMAT = %Y-%m-%d %H:%M:%S
LOG_STDOUT = False
LOG_ENCODING = utf-8
BOT_NAME = 'news-please'
SPIDER_MODULES = ['newsplease.crawler.spiders']
NEWSPIDER_MODULE = 'newsplease.crawler.spiders'
JOBDIRNAME = .resume_jobdir
ROBOTSTXT_OBEY=True
CONCURRENT_REQUESTS=16
CONCURRENT_REQUESTS_PER_DOMAIN=16
TELNETCONSOLE_ENABLED=False
REMOTE_CONTROL_ENABLED=False
USER_AGENT = 'news-please (+http://www.example.com/)'
ITEM_PIPELINES = {{'newsplease.pipeline.pipelines.ArticleMasterExtractor':100,
                  'newsplease.pipeline.pipelines.JsonFileStorage':300
                  }}
ITEM_CLASS = 'newsplease.crawler.items.NewscrawlerItem'
[Pandas]
file_name = "PandasStorage"
"""

# Runs news-please's own one-site crawler (what its `news-please` command starts per site) with
# tldextract on its bundled suffix list, so it never fetches one from the internet.
LAUNCH = """
import runpy, sys, tldextract
offline = tldextract.TLDExtract(suffix_list_urls=())
tldextract.extract = offline
tldextract.tldextract.extract = offline
import newsplease.single_crawler as sc
sys.argv = [sc.__file__, *sys.argv[1:]]
runpy.run_path(sc.__file__, run_name="__main__")
"""

OFFLINE_ENV = {
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
}


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not (VENV / ".ready").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"news-please=={VERSION}"], check=True)
        (VENV / ".ready").write_text(VERSION)
    return python


def crawl(site_root: Path, work: Path) -> tuple[float, int, float]:
    from ccnews.sites import SiteServer

    python = ensure_venv()
    (site_root / "robots.txt").write_text("User-agent: *\nSitemap: {{BASE}}/sitemap.xml\n", "utf-8")
    routes = json.loads((site_root / "_routes.json").read_text("utf-8"))
    routes["/robots.txt"] = {"file": "robots.txt", "headers": {"Content-Type": "text/plain"}}
    # news-please opens the site's root before anything else
    routes["/"] = {"body": "<html><head><title>Bench outlet</title></head><body><p>news</p></body></html>"}
    (site_root / "_routes.json").write_text(json.dumps(routes), "utf-8")
    # news-please takes the site's host:port as a domain, which Scrapy's offsite filter then
    # refuses: the site is served on port 80 (this benchmark runs as root) and named without one.
    try:
        server = SiteServer(site_root, port=80).start()
    except OSError as exc:
        raise SystemExit(f"news-please needs 127.0.0.1:80 for the benchmark site: {exc}") from None
    try:
        cfg_dir = work / "np"
        cfg_dir.mkdir()
        (cfg_dir / "config.cfg").write_text(CONFIG.format(work=cfg_dir), "utf-8")
        sitelist = cfg_dir / "sitelist.hjson"
        sitelist.write_text(
            json.dumps({"base_urls": [{"url": "http://127.0.0.1/", "crawler": "SitemapCrawler"}]}), "utf-8"
        )
        log = open(work / "newsplease.log", "w+")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(python), "-c", LAUNCH, str(cfg_dir / "config.cfg"), str(sitelist), "0", "False", "False"],
            env={**os.environ, **OFFLINE_ENV},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cfg_dir,
        )
        sampler = MemorySampler(proc.pid)
        sampler.start()
        proc.wait()
        sampler.done.set()
        elapsed = time.perf_counter() - t0
    finally:
        server.stop()
    stored = sum(1 for _ in (cfg_dir / "data").rglob("*.json")) if (cfg_dir / "data").exists() else 0
    if not stored:
        log.seek(0)
        raise SystemExit("news-please stored nothing:\n" + log.read()[-3000:])
    return elapsed, stored, max(sampler.samples or [0])


def measure(real: int, corpus: Path = CORPUS) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        site_root, _ = real_site(corpus, work / "site", real)
        elapsed, stored, peak = crawl(site_root, work)
    return {"pages served": real, "pages stored": stored, "news-please pages/s": round(stored / elapsed, 1),
            "news-please seconds": round(elapsed, 1), "news-please peak MB": round(peak, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=int, default=2000, metavar="N", help="N URLs over the real pages of the corpus")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args()
    from bench import pipeline

    theirs = measure(args.real, args.corpus)
    ours = pipeline.measure(real=args.real, corpus=args.corpus)  # the same URLs, back to back
    ours.pop("cpu budget")
    cores = os.cpu_count() or 1
    ratio = ours["pipeline pages/s"] / max(theirs["news-please pages/s"], 0.01)
    for key, value in [*theirs.items(), *(("ccnews " + k, v) for k, v in ours.items())]:
        print(f"{key:42} {value}")
    print(f"{'ccnews / news-please, as run':42} {ratio:.1f}x (ccnews: {cores} extraction workers; news-please: one process)")
    print(f"{'ccnews / news-please, per core':42} {ratio / cores:.1f}x")


if __name__ == "__main__":
    main()
