"""Latency and throughput of `ccnews serve` on an archive of N synthetic articles (the corpus of
bench/search.py), next to `ccnews search` run as a process on the same queries.

    python bench/serve.py --articles 100000 --keep /tmp/bench100k

Starts the real server (`python -m ccnews serve`) on 127.0.0.1 and asks it over HTTP. Prints, for
typical words (in 1-20% of the articles, as a place or a craft in a real archive) and frequent
ones (in 88-100%, the worst case), the p50 and p95 of /api/search (one page of hits) and of the
search page (hits, facet counts, the timeline and the exact story count), requests/s of the search
page with 1, 2 and 4 clients at once (the clients share the machine's cores with the server), and
the whole-process time of `ccnews search` for comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.search import build, whole_process  # noqa: E402 - after the path is set

TYPICAL = {"single term": {"q": "kata436"}, "two terms": {"q": "kata67 kata436"},
           "phrase": {"q": '"kota kata67"'}, "term + source": {"q": "kata436", "source": "src3"},
           "term by date": {"q": "kata436", "sort": "date"}, "source, no words": {"source": "src3"}}
FREQUENT = {"single term": {"q": "pameran"}, "two terms": {"q": "batik festival"}, "phrase": {"q": '"kota kreatif"'}}


def start_server(data: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ccnews", "serve", "--data-dir", str(data), "--port", str(port)],
                            cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    line = proc.stderr.readline()
    if not line.startswith("serving"):
        raise SystemExit(f"the server did not start: {line}{proc.stderr.read()}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its pipe drained
    return proc, f"http://127.0.0.1:{port}"


def fetch(url: str) -> None:
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
        if r.status != 200:
            raise SystemExit(f"{url}: {r.status}")


def timed(url: str, runs: int) -> tuple[float, float]:
    fetch(url)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fetch(url)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), statistics.quantiles(samples, n=100, method="inclusive")[94]


def throughput(urls: list[str], clients: int, seconds: float) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        i = k
        while time.monotonic() < stop:
            fetch(urls[i % len(urls)])
            done[k] += 1
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--keep", metavar="DIR", help="build the archive into DIR and keep it; reuse it when built")
    ap.add_argument("--runs", type=int, default=30, help="requests per figure")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    args = ap.parse_args()
    if args.keep:
        data = Path(args.keep)
        data.mkdir(parents=True, exist_ok=True)
        measure(data, args)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            measure(Path(tmp), args)


def measure(data: Path, args: argparse.Namespace) -> None:
    build(data, args.articles)
    proc, base = start_server(data)
    try:
        print(f"articles {args.articles}, {os.cpu_count()} cores; {args.runs} requests per figure")
        print(f"{'words':9} {'query':16} {'/api/search p50':>16} {'p95':>8} {'search page p50':>16} {'p95':>8}")
        pages = []
        for kind, queries in (("typical", TYPICAL), ("frequent", FREQUENT)):
            for name, params in queries.items():
                qs = urllib.parse.urlencode(params)
                a50, a95 = timed(f"{base}/api/search?{qs}", args.runs)
                p50, p95 = timed(f"{base}/?{qs}", args.runs)
                if kind == "typical":
                    pages.append(f"{base}/?{qs}")
                print(f"{kind:9} {name:16} {a50:14.1f}ms {a95:6.1f}ms {p50:14.1f}ms {p95:6.1f}ms")
        for clients in (1, 2, 4):
            rate = throughput(pages, clients, args.seconds)
            print(f"search page, typical words, {clients} client(s) at once: {rate:.1f} requests/s")
        for word in ("kata436", "pameran"):
            print(f"`ccnews search {word}` as a process (start, open, query, print): "
                  f"median {whole_process(data, word) * 1000:.0f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
