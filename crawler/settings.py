"""Scrapy settings for ccnews. Every departure from Scrapy's defaults says why."""

BOT_NAME = "ccnews"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Outlets should know who is fetching their pages and where to read about it.
USER_AGENT = "ccnews/0.1 (+https://github.com/ccnews/ccnews; creative-city news archive)"
ROBOTSTXT_OBEY = True

# Be gentle with small regional servers: few requests per site, adapting to their latency.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4  # default 8
AUTOTHROTTLE_ENABLED = True  # default False
AUTOTHROTTLE_START_DELAY = 1.0  # default 5.0: the per-source `delay` is the floor anyway
AUTOTHROTTLE_MAX_DELAY = 30.0  # default 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0  # default 1.0

# Retries on 5xx and timeouts (Scrapy's list), a little more patient than the default 2.
RETRY_ENABLED = True
RETRY_TIMES = 3  # default 2
DOWNLOAD_TIMEOUT = 30  # default 180: a regional page that takes longer is not coming
# No article is 10 MB; a larger (or larger once decompressed) body is a trap, not news.
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024  # default 1 GiB
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024  # default 32 MiB
REDIRECT_MAX_TIMES = 5  # default 20: redirect loops end sooner
METAREFRESH_MAXDELAY = 10  # default 100

# No unauthenticated control surface: the telnet console and Scrapy 2.19's remote-control
# server (a local code-execution endpoint) are off.
TELNETCONSOLE_ENABLED = False  # default True
REMOTE_CONTROL_ENABLED = False  # default True since 2.19

COOKIES_ENABLED = False  # default True: news pages need no session, and cookies make tracking URLs
# Breadth first: discover all entries of feeds and sitemaps before following deep pagination.
DEPTH_PRIORITY = 1  # default 0
# Pending requests wait on disk, in a directory of the run (crawler/queue.py): a large sitemap's
# requests held in memory cost the crawl process about 2.9 KB each (CCNEWS_DISK_QUEUE below).
SCHEDULER = "crawler.queue.RunScheduler"
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"

ITEM_PIPELINES = {
    "crawler.pipelines.extract.ExtractPipeline": 300,
    "crawler.pipelines.tag.TagPipeline": 400,
    "crawler.pipelines.archive.ArchivePipeline": 800,
}
EXTENSIONS = {
    "crawler.extensions.RunRecorder": 500,
    "crawler.extensions.IndexOnClose": 600,
}
# Off-site and non-http(s) redirects are already dropped by Scrapy's OffsiteMiddleware and
# RedirectMiddleware (so a redirect into link-local or metadata space is never followed: the
# registry refuses such hosts), so no downloader middleware of our own.

# ccnews settings
ARCHIVE_DATA_DIR = None  # None: $CCNEWS_DATA or ./ccnews-data
CCNEWS_SOURCES = None  # a registry file; None: $CCNEWS_SOURCES or the bundled one
CCNEWS_SINCE = None  # ISO date: skip entries dated before it
CCNEWS_MAX_ARTICLES = 0  # stop a source after this many archived articles (0: no limit)
CCNEWS_LISTING_DEPTH = 5  # listing pages followed per listing, through its pagination
CCNEWS_MAX_ARTICLE_PAGES = 20  # pages merged into one multi-page article
CCNEWS_MIN_WORDS = 40  # shorter bodies are not articles
CCNEWS_EXTRACT_PROCESSES = -1  # extraction worker processes; -1: one per core; 0: in the crawl process
# Shared by the sources one process crawls side by side (crawler.runner.share_budgets): requests in
# flight (at least 2 per source, at most CONCURRENT_REQUESTS), and bytes of fetched pages waiting for
# extraction (at least 500 KB per source, at most Scrapy's 5 MB).
CCNEWS_REQUESTS_BUDGET = 64
CCNEWS_PAGES_BUDGET = 20_000_000
CCNEWS_DISK_QUEUE = True  # pending requests wait on disk, in a directory of the run (crawler/queue.py)
CCNEWS_CPU_REPORT = ""  # a file for the CPU per stage and process when the crawl ends (crawler/budget.py)
CCNEWS_MAX_LINKS_PER_PAGE = 2000  # links read from one listing page
CCNEWS_STALE_DAYS = 90  # a feed whose newest entry is older than this is reported as stale
CCNEWS_REFETCH_KNOWN = False  # True: revisit archived URLs even when nothing says they changed
INDEX_ENABLED = True  # bring the search index up to date when a crawl closes
CCNEWS_RESUME = False  # also skip what an interrupted run judged not to be an article
CCNEWS_ONE_LINE_ERRORS = False  # the command line sets it: errors as one line, no tracebacks

LOG_LEVEL = "INFO"
# Items by URL and reason only: Scrapy's own formatter prints whole items, raw pages included.
LOG_FORMATTER = "crawler.logformatter.UrlOnlyLogFormatter"
FEED_EXPORT_ENCODING = "utf-8"

# -- several machines ------------------------------------------------------------------------------
# A Redis URL here (`ccnews crawl --redis URL`, env CCNEWS_REDIS_URL, or -s) puts the crawl in Redis
# mode: crawler/addons.py sets what follows from it. Workers of one crawl share CCNEWS_RUN.
CCNEWS_REDIS_URL = None
CCNEWS_RUN = None  # default: today's UTC date
ADDONS = {"crawler.addons.RedisMode": 0}
