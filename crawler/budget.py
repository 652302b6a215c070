"""A crawl's CPU, stage by stage and process by process: where every millisecond of a page goes.

The crawl process (Scrapy fetching, parsing and scheduling; archive writes), the extraction workers
(HTML parsing, trafilatura, dates, language, tagging) and the indexer beside the crawl (MinHash,
index writes) time their stages (`archive.cpu`). This puts them together with each process's own
CPU total, so what no stage names in a process (start-up, handing pages to the workers and back,
Scrapy's own work) is shown as that process's remainder and the rows add up to the crawl's CPU.

`ccnews crawl -s CCNEWS_CPU_REPORT=FILE` writes it as JSON when the crawl ends (bench/pipeline.py
prints it as a table per page).
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from archive.cpu import LEDGER


class CrawlBudget:
    """In the crawl process: what the extraction workers and the indexer report, beside this
    process's own ledger."""

    def __init__(self) -> None:
        self.worker_stages: defaultdict[str, float] = defaultdict(float)
        self.worker_totals: dict[int, float] = {}  # each worker's CPU so far, from its latest result
        self.indexers: dict[int, dict[str, Any]] = {}  # each indexing process's latest answer
        self.startup: float | None = None  # this process's CPU when the first spider opened

    def opened(self) -> None:
        if self.startup is None:
            self.startup = time.process_time()

    def worker(self, cpu: dict[str, Any]) -> None:
        for name, seconds in cpu["stages"].items():
            self.worker_stages[name] += seconds
        self.worker_totals[cpu["pid"]] = max(cpu["process"], self.worker_totals.get(cpu["pid"], 0.0))

    def indexer(self, cpu: dict[str, Any]) -> None:
        """An indexing process's figures so far (it answers each source that closes)."""
        self.indexers[cpu["pid"]] = cpu

    def report(self, pages: int, articles: int) -> dict[str, Any]:
        """Call on the main thread (the reactor's) once the crawl is over."""
        total, main = time.process_time(), time.thread_time()
        startup = self.startup or 0.0
        mine = LEDGER.snapshot()
        crawl = {"start-up (imports, registry, settings)": startup, **mine,
                 "Scrapy: fetch, decode, parse, schedule": max(0.0, main - startup - sum(mine.values())),
                 "other threads: pages to the workers and back (pickling), DNS": max(0.0, total - main)}
        workers = dict(self.worker_stages)
        workers["start-up, pages in and results out (imports, unpickling, pickling)"] = max(
            0.0, sum(self.worker_totals.values()) - sum(workers.values()))
        indexer: defaultdict[str, float] = defaultdict(float)
        for cpu in self.indexers.values():
            for name, seconds in cpu["stages"].items():
                indexer[name] += seconds
        indexer_total = sum(cpu["total"] for cpu in self.indexers.values())
        indexer["start-up, archive polling"] = max(0.0, indexer_total - sum(indexer.values()))
        processes = {"crawl": {"count": 1, "cpu_s": total, "stages": crawl, "pids": [os.getpid()]}}
        if self.worker_totals:
            processes["extraction workers"] = {"count": len(self.worker_totals), "pids": list(self.worker_totals),
                                               "cpu_s": sum(self.worker_totals.values()), "stages": workers}
        if self.indexers:
            processes["indexer"] = {"count": len(self.indexers), "cpu_s": indexer_total, "stages": dict(indexer),
                                    "pids": list(self.indexers)}
        return {"pages": pages, "articles": articles, "cores": os.cpu_count() or 1, "processes": processes}

    def write(self, path: str | Path, pages: int, articles: int) -> None:
        Path(path).write_text(json.dumps(self.report(pages, articles), indent=1), encoding="utf-8")


BUDGET = CrawlBudget()  # this crawl process's
