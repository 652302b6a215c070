"""`ccnews import` of a WARC built from real pages, against trafilatura alone on the same pages.

    python bench/importer.py [--copies 4] [--corpus ../shared/corpora/fundus]
    python bench/importer.py --big-gb 1.1    # also: memory over a WARC of more than 1 GB

It writes the corpus's pages as WARC response records (each page `--copies` times at distinct
URLs, so every record is extracted and archived), runs the real `ccnews import` command on it in
its own process while sampling the memory of its whole process tree, then runs trafilatura's
bare_extraction alone, in one process, over each page once, and prints both rates and the ratio.
With `--big-gb`, a second WARC of repeated records past that size (one page at one URL, again and
again: each record is extracted and found `unchanged`) is imported while the memory is sampled:
it must stay flat.
"""

from __future__ import annotations

import argparse
import gzip
import io
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

from bench.pipeline import MemorySampler, trafilatura_alone  # noqa: E402
from bench.quality import DEFAULT_CORPUS  # noqa: E402

REGISTRY = """[[source]]
id = "real"
name = "Real pages"
homepage = "http://bench.test/"
domains = ["bench.test"]
timezone = "UTC"
delay = 0.0
"""


def build_warc(corpus: Path, out: Path, copies: int) -> tuple[int, list[Path]]:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    entries = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text("utf-8").splitlines() if line.strip()]
    files = [corpus / e["file"] for e in entries]
    n = 0
    with open(out, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for copy in range(copies):
            for i, path in enumerate(files):
                body = gzip.decompress(path.read_bytes())
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                                        protocol="HTTP/1.1")
                url = f"http://bench.test/{copy}/{i}/page"
                writer.write_record(
                    writer.create_warc_record(
                        url,
                        "response",
                        payload=io.BytesIO(body),
                        length=len(body),
                        http_headers=http,
                        warc_headers_dict={"WARC-Date": "2024-05-01T00:00:00Z"},
                    )
                )
                n += 1
    return n, files


def run_import(warc: Path, work: Path) -> tuple[float, int, list[float], str]:
    registry = work / "sources.toml"
    registry.write_text(REGISTRY, "utf-8")
    env = {**os.environ, "CCNEWS_DATA": str(work / "data"), "CCNEWS_SOURCES": str(registry)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ccnews", "import", str(warc), "--no-index"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = MemorySampler(proc.pid, every=0.5)
    sampler.start()
    _out, err = proc.communicate()
    elapsed = time.perf_counter() - t0
    sampler.done.set()
    if proc.returncode != 0:
        raise SystemExit(err[-2000:])
    import sqlite3

    with sqlite3.connect(work / "data" / "archive.db") as db:
        stored = db.execute("select count(*) from articles").fetchone()[0]
    return elapsed, stored, sampler.samples, err.strip().splitlines()[-1]


def build_big(corpus: Path, out: Path, gigabytes: float) -> int:
    """Repeated records (one page, one URL) past `gigabytes`, written uncompressed to be large."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    entries = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text("utf-8").splitlines() if line.strip()]
    body = gzip.decompress((corpus / entries[0]["file"]).read_bytes())
    n = 0
    with open(out, "wb") as fh:
        writer = WARCWriter(fh, gzip=False)
        while fh.tell() < gigabytes * 1e9:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record("http://bench.test/big/page", "response",
                                                          payload=io.BytesIO(body), length=len(body), http_headers=http,
                                                          warc_headers_dict={"WARC-Date": "2024-05-01T00:00:00Z"}))
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--copies", type=int, default=4, help="each real page this many times (default 4)")
    ap.add_argument("--big-gb", type=float, help="also import a WARC of repeated records past this size")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        warc = work / "real.warc.gz"
        records, files = build_warc(args.corpus, warc, args.copies)
        elapsed, stored, samples, summary = run_import(warc, work)
        alone_s, n_alone = trafilatura_alone(work, files)
        rate, alone = records / elapsed, n_alone / alone_s
        print(f"{'WARC records (real pages)':38} {records} ({warc.stat().st_size / 1e6:.1f} MB)")
        print(f"{'articles archived':38} {stored}")
        print(f"{'ccnews import pages/s':38} {rate:.1f} ({elapsed:.1f} s)")
        print(f"{'trafilatura alone pages/s':38} {alone:.1f} (one process)")
        print(f"{'ratio import / trafilatura':38} {rate / alone:.2f}")
        print(f"{'ratio per core':38} {rate / alone / (os.cpu_count() or 1):.2f} ({os.cpu_count()} cores)")
        print(f"{'peak MB, whole process tree':38} {max(samples or [0]):.0f}")
        print(f"{'import said':38} {summary}")
        if args.big_gb:
            big = work / "big.warc"
            n = build_big(args.corpus, big, args.big_gb)
            elapsed, _stored, samples, summary = run_import(big, work)
            quarters = [samples[min(len(samples) - 1, int(len(samples) * f))] for f in (0.25, 0.5, 0.75, 1.0)]
            print(f"{'big WARC':38} {big.stat().st_size / 1e9:.2f} GB, {n} records, {elapsed:.0f} s")
            print(f"{'MB at 25/50/75/100% of the big import':38} {' / '.join(f'{m:.0f}' for m in quarters)}")
            print(f"{'peak MB, big import':38} {max(samples):.0f}")


if __name__ == "__main__":
    main()
