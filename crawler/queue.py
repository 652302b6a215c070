"""Scrapy's scheduler, its pending requests on disk for the length of one crawl.

A sitemap of 50,000 articles puts 50,000 requests in the scheduler at once; in Scrapy's memory
queue each costs about 2.9 KB of the crawl process (a Request with its headers, meta and
fingerprint), 129 MB more at 50,000 pages than at 5,000. Scrapy's own disk queue keeps them
pickled in files instead, but only under a JOBDIR, which also restores a stopped crawl's requests
(here such a request went out without its robots.txt check). This scheduler gives the disk queue a
directory of this run alone, under the data directory's `queue/`, removed when the crawl closes:
nothing is ever restored from it. A directory whose process is gone (a crawl killed outright) is
removed by the next crawl. A JOBDIR set by the user is left to Scrapy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from scrapy.core.scheduler import Scheduler

from archive.db import resolve_data_dir

QUEUE_DIR = "queue"


class RunScheduler(Scheduler):
    run_dir: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        scheduler = super().from_crawler(crawler)
        settings = crawler.settings
        if scheduler.dqdir is None and settings.getbool("CCNEWS_DISK_QUEUE", True):
            root = resolve_data_dir(settings.get("ARCHIVE_DATA_DIR")) / QUEUE_DIR
            root.mkdir(parents=True, exist_ok=True)
            _remove_orphans(root)
            scheduler.run_dir = tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root)
            scheduler.dqdir = scheduler._dqdir(scheduler.run_dir)
        return scheduler

    def close(self, reason: str):
        try:
            return super().close(reason)
        finally:
            if self.run_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)


def _remove_orphans(root: Path) -> None:
    """The queue directories of crawl processes that no longer run."""
    for path in root.iterdir():
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
