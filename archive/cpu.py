"""Where CPU time goes: CPU seconds per named stage, in each process of a crawl.

A stage is timed with the CPU clock of the thread doing it (`time.thread_time`), so its figure is
the work done, not the time spent waiting for a lock, the disk or another process. Stages are
leaves (never timed inside one another); what no stage names in a process (Scrapy fetching and
parsing, handing pages to the workers, start-up) is that process's own CPU total less its stages,
so the figures of a crawl add up to the CPU the crawl used (`crawler.budget` puts them together).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class Ledger:
    """CPU seconds per stage in this process (threads added together)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.thread_time()
        try:
            yield
        finally:
            self.seconds[name] += time.thread_time() - start

    def snapshot(self) -> dict[str, float]:
        return dict(self.seconds)

    def since(self, before: dict[str, float]) -> dict[str, float]:
        """The seconds each stage gained after `before` (a `snapshot`)."""
        return {k: v - before.get(k, 0.0) for k, v in self.seconds.items() if v > before.get(k, 0.0)}


LEDGER = Ledger()  # this process's
stage = LEDGER.stage
