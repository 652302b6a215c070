"""Child processes that leave Ctrl-C to their parent and do not outlive it.

A terminal sends SIGINT to the whole process group. The parent (a crawl, an import, a rebuild)
decides what an interruption means, finishes or cancels the work in hand and shuts its children
down; a child that took the signal itself would die mid-task with a traceback of its own. The
one way ccnews starts worker processes is `spawn_context()`, whose processes are started with
SIGINT ignored (an ignored signal stays ignored across exec, so they ignore it from their first
import on) and run `die_with_parent` first.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupts_ignored() -> Iterator[None]:
    """SIGINT ignored in this process for the block (in the main thread; elsewhere it cannot be
    changed, and processes started from other threads rely on `die_with_parent` alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def die_with_parent(parent: int) -> None:
    """In a child of `parent`: ignore Ctrl-C (the parent decides), and end with the parent (killed
    hard, a child would otherwise wait on its queue for ever holding its memory, or go on writing).

    On Linux the kernel kills the child the moment the parent dies (PR_SET_PDEATHSIG); elsewhere a
    thread notices within half a second.
    """
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class _QuietSpawnProcess(multiprocessing.context.SpawnProcess):
    def start(self) -> None:
        with interrupts_ignored():
            super().start()


class _QuietSpawnContext(multiprocessing.context.SpawnContext):
    Process = _QuietSpawnProcess


def spawn_context() -> multiprocessing.context.SpawnContext:
    """A "spawn" context (no inherited reactor, threads or sockets) whose processes never see Ctrl-C."""
    return _QuietSpawnContext()
