"""What merging an index's segments costs, and what it changes for searches.

    python bench/search.py --articles 1000000 --keep /tmp/bench1m --build-only
    python bench/merge.py --keep /tmp/bench1m

Copies the index that bench/search.py built and kept, merges the copy's segments into one as
`ccnews reindex --merge` does (wall and CPU seconds, this process's peak RSS), then times the
search benchmark's queries on the index as built and on the merged copy, interleaved round by
round in one process, so that the machine's drift touches both alike (p50 of each).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", metavar="DIR", required=True, help="a data dir bench/search.py built and kept")
    ap.add_argument("--rounds", type=int, default=7, help="timed runs of each query on each index")
    args = ap.parse_args()
    from bench.search import bench_queries
    from indexer import doc_count, merge, search

    built = Path(args.keep)
    with tempfile.TemporaryDirectory(dir=built.parent, prefix="ccnews-merge-") as tmp:
        merged = Path(tmp)
        shutil.copytree(built / "index", merged / "index")
        t0, c0 = time.perf_counter(), time.process_time()
        before, after = merge(merged)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"articles {doc_count(built)}: {before} segment(s) merged into {after} in {wall:.1f} s "
              f"({cpu:.1f} s CPU), peak {peak:.0f} MB RSS")
        indexes = {"as built": built, "merged": merged}
        queries = bench_queries()
        times: dict[tuple[str, str], list[float]] = {}
        for name, (q, filters, sort, _, _) in queries.items():
            for data in indexes.values():  # warm: the first search opens the index
                search(data, q, filters, limit=20, sort=sort, snippets=False)
        for _ in range(args.rounds):
            for name, (q, filters, sort, _, _) in queries.items():
                for label, data in indexes.items():
                    t0 = time.perf_counter()
                    search(data, q, filters, limit=20, sort=sort, snippets=False)
                    times.setdefault((name, label), []).append((time.perf_counter() - t0) * 1000)
        print(f"{'query (p50)':22} {'as built':>10} {'merged':>10} {'ratio':>7}")
        for name in queries:
            a, b = (statistics.median(times[(name, label)]) for label in indexes)
            print(f"{name:22} {a:8.1f}ms {b:8.1f}ms {b / a:6.2f}x")


if __name__ == "__main__":
    main()
