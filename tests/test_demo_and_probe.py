"""The demo a newcomer runs first, and the live source check, both on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPO, articles, run_ccnews

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


def group_alive(pgid: int) -> list[str]:
    """The processes still in a process group (as `ps` lists them)."""
    rows = subprocess.run(["ps", "-eo", "pgid=,pid=,args="], capture_output=True, text=True).stdout.splitlines()
    return [r for r in rows if r.split()[0] == str(pgid)]


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_the_demo_cleanly(tmp_path, presses):
    """A terminal's Ctrl-C reaches the whole process group: crawl, extraction workers, indexer."""
    proc = subprocess.Popen([sys.executable, "-m", "ccnews", "demo", "--data-dir", str(tmp_path / "demo")], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines = []
    for line in proc.stderr:  # wait until the crawl has fetched pages, and its workers are busy
        lines.append(line)
        if " pages, " in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    if presses == 2:
        time.sleep(1.0)  # a person's second press; Scrapy takes the first one in before it
        os.killpg(proc.pid, signal.SIGINT)
    _out, rest = proc.communicate(timeout=60)
    took = time.monotonic() - started
    stderr = "".join(lines) + rest
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "Error processing" not in stderr, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "interrupted; what was crawled is in the archive"
    assert took < (10 if presses == 2 else 30), took
    deadline = time.monotonic() + 10
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(proc.pid)  # no worker, indexer or server left behind


def test_demo_crawls_both_sites_and_finds_the_founding_article(tmp_path):
    data = tmp_path / "demo"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = run_ccnews("demo", "--data-dir", str(data), env={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(scratch.iterdir()) == []  # the demo sites' files went with the demo
    rows = articles(data)
    founding = [r for r in rows if r["title"].startswith("Kejar Kota Kreatif")]
    assert sorted(r["source"] for r in founding) == ["demo-city", "demo-outlet"]
    # The outlet's own copy is no longer on its site: it came from the demo's web archive, at its
    # 2016 address on the outlet's former domain.
    (original,) = [r for r in founding if r["source"] == "demo-outlet"]
    assert original["url"].startswith("http://kabarpesisir.example/24530/") and original["origin"] == "web-archive"
    assert "from the web archive: 1 capture(s) listed, 1 new article(s)" in result.stderr
    multi = [r for r in rows if r["pages"] == 3]
    assert len(multi) == 1 and "Wali Kota Pekalongan berharap" in multi[0]["text"]
    assert "Kejar Kota Kreatif" in result.stdout  # the sample search printed it
    assert "copy: demo-city" in result.stdout  # once, with the city's republished copy under it
    assert "crawl summary" in result.stdout
    # One Thai article, so the Thai example of `ccnews search --help` finds something.
    (thai,) = [r for r in rows if r["language"] == "th"]
    hits = json.loads(run_ccnews("search", "เมืองสร้างสรรค์ เชียงใหม่", "--lang", "th", "--json",
                                 "--data-dir", str(data)).stdout)
    assert [h["id"] for h in hits] == [thai["id"]]
    # The suggested commands are whole lines, whatever the terminal's width (COLUMNS=200 here).
    suggested = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ccnews ")]
    assert f"ccnews search --data-dir {data} 'เมืองสร้างสรรค์ เชียงใหม่' --lang th" in suggested


def test_sources_check_probes_without_writing(sites, tmp_path):
    result = run_ccnews("sources", "check", "warta-uji", "kota-uji", "-s", "AUTOTHROTTLE_START_DELAY=0.01",
                        registry=sites.registry, data_dir=tmp_path / "untouched")
    assert result.returncode == 0, result.stdout + result.stderr
    # Piped: tab-separated, one line per URL asked, with a header.
    header, *rows = [line.split("\t") for line in result.stdout.splitlines()]
    rows = [dict(zip(header, r, strict=True)) for r in rows]
    assert {r["source"] for r in rows} == {"warta-uji", "kota-uji"}
    assert all(r["ok"] == "yes" for r in rows)
    assert any(r["answer"] == "200" and int(r["entries"] or 0) > 0 for r in rows if r["source"] == "warta-uji")
    assert not (tmp_path / "untouched").exists()


def test_sources_check_reports_an_unreachable_source(tmp_path):
    reg = tmp_path / "dead.toml"
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    reg.write_text('[[source]]\nid = "dead"\nname = "Dead"\nhomepage = "http://127.0.0.1:9/"\ndelay = 0.0\n')
    result = run_ccnews("sources", "check", "-s", "RETRY_TIMES=0", registry=reg)
    assert result.returncode == 1
    assert "1 of 1 source(s) yielded no article" in result.stderr
