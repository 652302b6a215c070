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

import logging
import os
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path

from scrapy.core.scheduler import Scheduler

from archive.db import resolve_data_dir

QUEUE_DIR = "queue"
logger = logging.getLogger(__name__)


class RunScheduler(Scheduler):
    run_dir: str | None = None
    _disk_failed = False

    @classmethod
    def from_crawler(cls, crawler):
        scheduler = super().from_crawler(crawler)
        settings = crawler.settings
        # A probe (`sources check`) writes nothing to the data directory, and asks little.
        if (scheduler.dqdir is None and settings.getbool("CCNEWS_DISK_QUEUE", True)
                and not settings.getbool("CCNEWS_PROBE")):
            root = resolve_data_dir(settings.get("ARCHIVE_DATA_DIR")) / QUEUE_DIR
            try:
                root.mkdir(parents=True, exist_ok=True)
                _remove_orphans(root)
                scheduler.run_dir = tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root)
                scheduler.dqdir = scheduler._dqdir(scheduler.run_dir)
            except OSError as exc:  # a full or read-only disk: requests wait in memory
                logger.warning("pending requests wait in memory: cannot write %s: %s", root, exc)
        return scheduler

    def _dqpush(self, request) -> bool:
        if self._disk_failed:
            return False
        try:
            return super()._dqpush(request)
        except OSError as exc:  # the disk filled up: this and later requests wait in memory
            self._disk_failed = True
            logger.warning("pending requests wait in memory from now on: %s", exc)
            return False

    def _dqpop(self):
        try:
            return super()._dqpop()
        except Exception as exc:  # noqa: BLE001 - a record cut short when the disk filled up
            logger.warning("dropping the pending requests on disk: %s", exc)
            self.dqs = None
            return None

    def close(self, reason: str):
        if self.run_dir is None:
            return super().close(reason)
        # Nothing is restored from a run's queue: its state is not written, its files are removed.
        dqs, self.dqs = self.dqs, None
        try:
            if dqs is not None:
                with suppress(OSError):
                    dqs.close()
            return super().close(reason)
        finally:
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
