"""Where a crawl's CPU goes: `ccnews crawl -s CCNEWS_CPU_REPORT=FILE`, and the processes of a
crawl of several sources (one pool of extraction workers, one indexing process, whatever the number
of sources)."""

from __future__ import annotations

import json
import resource

from helpers import FAST, articles, run_ccnews


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_cpu_report_accounts_for_the_crawl_and_its_processes_are_shared(sites, tmp_path):
    report = tmp_path / "cpu.json"
    data = tmp_path / "data"
    before = _children_cpu()
    result = run_ccnews("crawl", "--all", *FAST, "-s", f"CCNEWS_CPU_REPORT={report}",
                        "-s", "CCNEWS_EXTRACT_PROCESSES=2", data_dir=data, registry=sites.registry)
    os_cpu = _children_cpu() - before
    assert result.returncode == 0, result.stderr[-3000:]
    budget = json.loads(report.read_text())
    processes = budget["processes"]
    kept = articles(data)
    assert budget["articles"] == len(kept) > 5
    assert budget["pages"] > budget["articles"]
    # Two sources, one process each of the kind: the pool and the indexing process are shared.
    assert processes["crawl"]["count"] == 1
    assert processes["extraction workers"]["count"] == 2
    assert processes["indexer"]["count"] == 1
    # Each stage where it runs, with time in it.
    assert processes["extraction workers"]["stages"]["extract: trafilatura"] > 0
    assert processes["extraction workers"]["stages"]["extract: language"] > 0
    assert processes["crawl"]["stages"]["archive: write"] > 0
    assert processes["indexer"]["stages"]["index: analyse and add"] > 0
    assert processes["indexer"]["stages"]["copies: MinHash"] > 0
    for proc in processes.values():
        assert abs(sum(proc["stages"].values()) - proc["cpu_s"]) < 0.01  # the rows add up to the process
    # ...and the processes to what the operating system counted for the whole tree, less what
    # happens after the report whatever the crawl's size: the command's summary and exit, the
    # processes' exits, multiprocessing's resource tracker (1.3 s of 6.0 seen on a CI machine).
    reported = sum(proc["cpu_s"] for proc in processes.values())
    assert os_cpu - 2.0 <= reported <= 1.02 * os_cpu, (reported, os_cpu)
    # Every source's articles were indexed before its crawl ended.
    found = run_ccnews("search", "*", "--all-copies", "--json", "--limit", "1000", data_dir=data)
    assert found.returncode == 0, found.stderr
    assert {h["id"] for h in json.loads(found.stdout)} == {a["id"] for a in kept}
