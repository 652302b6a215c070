"""Second runs, date bounds and limits: each test crawls its own fresh copy of the sites."""

from __future__ import annotations

import json
import os

import pytest
import sqlite_utils
from helpers import FAST, P101, P102, P105, Sites, articles, by_path, run_ccnews

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


@pytest.fixture
def fresh(tmp_path):
    s = Sites(tmp_path / "sites").start()
    yield s
    s.stop()


def crawl(sites, data, *extra):
    result = run_ccnews("crawl", "warta-uji", *FAST, *extra, data_dir=data, registry=sites.registry)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def last_run(data):
    return next(sqlite_utils.Database(data / "archive.db").query("select * from crawl_runs order by id desc limit 1"))


def test_unchanged_articles_are_not_downloaded_again(fresh, tmp_path):
    data = tmp_path / "data"
    crawl(fresh, data)
    before = len(articles(data))
    crawl(fresh, data)
    # Second run: conditional GETs get 304 Not Modified, so no article body is sent twice.
    assert fresh.outlet.hits(P101) == 1
    assert fresh.outlet.hits(P102) == 1
    run = last_run(data)
    assert run["articles_new"] == 0 and run["articles_unchanged"] == before
    assert len(articles(data)) == before


def test_changed_article_is_updated_and_keeps_first_seen(fresh, tmp_path):
    data = tmp_path / "data"
    crawl(fresh, data)
    first = by_path(articles(data), P105)
    page = fresh.outlet.root / fresh.outlet.routes[P105]["file"]
    page.write_text(page.read_text("utf-8").replace("festival keraton", "festival keraton yang diperbarui"), "utf-8")
    crawl(fresh, data)
    second = by_path(articles(data), P105)
    assert second["id"] == first["id"]
    assert "yang diperbarui" in second["text"]
    assert second["first_seen"] == first["first_seen"]
    assert second["updated_at"] > first["updated_at"] or second["content_hash"] != first["content_hash"]
    assert last_run(data)["articles_updated"] == 1


def test_since_skips_entries_dated_before_it(fresh, tmp_path):
    data = tmp_path / "data"
    result = crawl(fresh, data, "--since", "2016-01-01")
    assert fresh.outlet.hits(P105) == 0  # dated 2012 in the news sitemap: never fetched
    assert not [r for r in articles(data) if "/read/105/" in r["url"]]
    assert by_path(articles(data), P101)
    assert json.loads(last_run(data)["skipped"])["before_since"] >= 1
    assert "before_since" in result.stdout


def test_max_articles_stops_the_crawl(fresh, tmp_path):
    data = tmp_path / "data"
    crawl(fresh, data, "--max-articles", "2")
    # Exactly two are kept; articles already in flight when the crawl closes are counted, not kept.
    assert len(articles(data)) == 2
    run = last_run(data)
    assert run["finish_reason"] == "closespider_itemcount"
    assert run["articles_new"] == 2


def test_scrapy_setting_passes_through(fresh, tmp_path):
    data = tmp_path / "data"
    crawl(fresh, data, "-s", "CCNEWS_LISTING_DEPTH=0", "-s", "CLOSESPIDER_PAGECOUNT=500")
    assert fresh.outlet.hits("/kategori/berita") == 1
    assert fresh.outlet.hits("/kategori/berita?page=2") == 0


def test_bad_since_is_one_line_error(fresh, tmp_path):
    result = run_ccnews("crawl", "warta-uji", "--since", "not-a-date", data_dir=tmp_path, registry=fresh.registry)
    assert result.returncode != 0
    assert "not a date" in result.stderr and "Traceback" not in result.stderr


def test_unknown_source_is_one_line_error(fresh, tmp_path):
    result = run_ccnews("crawl", "nope", data_dir=tmp_path, registry=fresh.registry)
    assert result.returncode == 1
    assert "unknown source 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_scrapy_crawl_from_repository_root_archives(fresh, tmp_path):
    import os
    import subprocess
    import sys

    from helpers import REPO

    data = tmp_path / "data"
    env = {**os.environ, "CCNEWS_DATA": str(data), "CCNEWS_SOURCES": str(fresh.registry)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "news",
            "-a",
            "source=warta-uji",
            "-s",
            "AUTOTHROTTLE_START_DELAY=0.01",
            "-s",
            "LOG_LEVEL=WARNING",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert by_path(articles(data), P101)["source"] == "warta-uji"


def test_search_works_while_a_crawl_writes(tmp_path):
    """A slow crawl (0.3 s between requests) runs while searches are made against the archive."""
    import subprocess
    import sys
    import time

    from helpers import REPO

    from indexer import search

    s = Sites(tmp_path / "sites").start()
    try:
        data = tmp_path / "data"
        crawl(s, data, "--max-articles", "2")  # an index to search from the start
        slow = s.registry.read_text("utf-8").replace("delay = 0.0", "delay = 0.3")
        s.registry.write_text(slow, "utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ccnews", "crawl", "--all", "-s", "CCNEWS_REFETCH_KNOWN=True"],
            cwd=REPO, env={**os.environ, "CCNEWS_DATA": str(data), "CCNEWS_SOURCES": str(s.registry)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        searches = 0
        while proc.poll() is None and searches < 200:
            search(data, "kota kreatif", limit=5)
            searches += 1
            time.sleep(0.05)
        _out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        assert searches >= 5
        assert search(data, "kota kreatif", limit=50)
    finally:
        s.stop()
