"""Dates, bylines, boilerplate, URL keys and the registry, checked directly."""

from __future__ import annotations

import pytest

from archive.urls import url_key
from crawler.dates import parse_date
from crawler.extract import clean_authors, clean_body
from crawler.registry import RegistryError, load_registry, parse_registry


@pytest.mark.parametrize("text, tz, expected", [
    ("Jumat, 11 Maret 2016 08:30 WIB", "UTC", "2016-03-11T08:30:00+07:00"),
    ("Kamis, 10 Mar 2016 | 14:05", "Asia/Jakarta", "2016-03-10T14:05:00+07:00"),
    ("Sabtu, 9 Maret 2024 20:00 WIT", "Asia/Jakarta", "2024-03-09T20:00:00+09:00"),
    ("11 มีนาคม 2567 10:30", "Asia/Bangkok", "2024-03-11T10:30:00+07:00"),
    ("วันที่ 5 ก.พ. 2567 เวลา 09:15 น.", "Asia/Bangkok", "2024-02-05T09:15:00+07:00"),
    ("2016-03-11T10:00:00+07:00", "UTC", "2016-03-11T10:00:00+07:00"),
    ("2016-03-11 10:00:00", "Asia/Jakarta", "2016-03-11T10:00:00+07:00"),
    ("2016-03-11T03:00:00Z", "Asia/Jakarta", "2016-03-11T03:00:00+00:00"),
    ("5 December 2024", "Asia/Bangkok", "2024-12-05T00:00:00+07:00"),
])
def test_dates_are_read_with_offsets(text, tz, expected):
    assert parse_date(text, tz).isoformat() == expected


@pytest.mark.parametrize("text", ["1 Januari 1900", "31 Desember 2999", "garbage", "", "0000-00-00", "x" * 500])
def test_absurd_or_unreadable_dates_are_none(text):
    assert parse_date(text, "Asia/Jakarta") is None


@pytest.mark.parametrize("raw, names", [
    ("Reporter: Nul | Editor: Ratna Dewi", ["Nul", "Ratna Dewi"]),
    ("Oleh: Ani Rahma, Budi Santoso", ["Ani Rahma", "Budi Santoso"]),
    ("Penulis: Dimas Prasetyo (dim)", ["Dimas Prasetyo"]),
    ("By Somchai Wongsa and Jane Doe", ["Somchai Wongsa", "Jane Doe"]),
    ("Redaksi", []),
])
def test_bylines_become_names(raw, names):
    assert clean_authors(raw) == names


def test_inline_boilerplate_lines_go_and_byline_lines_give_names():
    body = "\n".join([
        "Paragraf pertama tentang batik.",
        "Baca Juga: Judul lain yang tidak terkait",
        "Paragraf kedua tentang kota kreatif.",
        "Cek Berita dan Artikel lainnya di Google News",
        "Editor: Ratna Dewi",
    ])
    text, names = clean_body(body)
    assert text == "Paragraf pertama tentang batik.\nParagraf kedua tentang kota kreatif."
    assert names == ["Ratna Dewi"]


@pytest.mark.parametrize("a, b", [
    ("https://www.example.id/read/1/x?utm_source=rss&utm_medium=feed", "http://example.id/read/1/x"),
    ("https://example.id/read/1/x/", "https://example.id/read/1/x"),
    ("https://example.id/read/1/x#komentar", "https://example.id/read/1/x?fbclid=abc"),
])
def test_url_variants_share_one_key(a, b):
    assert url_key(a) == url_key(b)


def test_distinct_pages_keep_distinct_keys():
    assert url_key("https://example.id/read/1/x?page=2") != url_key("https://example.id/read/1/x")
    assert url_key("https://a.example.id/x") != url_key("https://b.example.id/x")


def test_bundled_registry_has_the_outlets_the_users_need():
    reg = load_registry()
    cities = {s.city for s in reg.values()}
    assert {"radar-pekalongan", "pekalongankota"} <= set(reg)
    assert {"Pekalongan", "Chiang Mai", "Bandung", "Jakarta", "Ambon", "Surakarta", "Semarang"} <= cities
    assert len([s for s in reg.values() if s.city == "Chiang Mai"]) >= 2


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[[source]]\nid = "a"\nname = "A"\n', "source #1 (a): field 'homepage' is required"),
        (
            '[[source]]\nid = "a"\nname = "A"\nhomepage = "ftp://x"\n',
            "source #1 (a), field 'homepage': 'ftp://x' is not an http(s) URL",
        ),
        (
            '[[source]]\nid = "a"\nname = "A"\nhomepage = "https://x.id/"\ntimezone = "Mars/Olympus"\n',
            "field 'timezone': unknown time zone",
        ),
        (
            '[[source]]\nid = "a"\nname = "A"\nhomepage = "https://x.id/"\nfeeds = "https://x.id/feed"\n',
            "field 'feeds': expected a list of strings",
        ),
        (
            '[[source]]\nid = "a"\nname = "A"\nhomepage = "https://x.id/"\narticle_pattern = "("\n',
            "field 'article_pattern': bad regex",
        ),
        ('[[source]]\nid = "a"\nname = "A"\nhomepage = "https://x.id/"\ndelay = -1\n', "field 'delay'"),
        ('[[source]]\nid = "a"\nname = "A"\nhomepage = "https://x.id/"\nfeedz = []\n', "unknown field 'feedz'"),
        (
            '[[source]]\nid = "a"\nname = "A"\nhomepage = "https://x.id/"\n[[source]]\nid = "a"\nname = "B"\nhomepage = "https://y.id/"\n',
            "source #2 (a), field 'id': duplicate id",
        ),
        ('[[source]\nid = "a"', "not valid TOML"),
    ],
)
def test_malformed_registry_names_file_entry_and_field(toml, message):
    with pytest.raises(RegistryError) as exc:
        parse_registry(toml, "my.toml")
    assert str(exc.value).startswith("my.toml") and message in str(exc.value)


def test_malformed_registry_on_the_command_line_is_one_line(tmp_path):
    from helpers import run_ccnews

    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nid = "x"\nname = "X"\nhomepage = "nope"\n')
    result = run_ccnews("sources", "list", "--sources", str(bad))
    assert result.returncode == 1
    assert f"{bad}, source #1 (x), field 'homepage'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_article_and_its_pages_and_urls_commit_together_or_not_at_all(tmp_path):
    from archive import Archive

    with Archive(tmp_path) as archive:
        with pytest.raises(RuntimeError):
            with archive.transaction():
                archive.store_article({"url": "http://127.0.0.1:1/read/1/a", "source": "s", "title": "A", "text": "x"},
                                      pages=[{"url": "http://127.0.0.1:1/read/1/a", "body": b"<html></html>"}])
                raise RuntimeError("the process dies here")
        counts = [archive.db[t].count for t in ("articles", "article_urls", "raw_pages")]
    assert counts == [0, 0, 0]


def test_storing_the_same_item_twice_keeps_one_record(tmp_path):
    from archive import Archive

    record = {"url": "http://127.0.0.1:1/read/1/a?utm_source=x", "source": "s", "title": "A", "text": "x"}
    with Archive(tmp_path) as archive:
        assert archive.store_article(dict(record), pages=[])[0] == "new"
        archive.db.execute("delete from article_urls")  # as if only the article row had been written
        archive.db.conn.commit()
        assert archive.store_article(dict(record), pages=[])[0] == "unchanged"
        assert archive.db["articles"].count == 1


def test_a_fetched_page_is_freed_as_soon_as_the_spider_is_done_with_it(tmp_path):
    # Pages that waited for Python's occasional full garbage collection piled up in the crawl's
    # memory (400 MB after 1,500 real news pages): each must go when its callback is done.
    import gc
    import weakref

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import HtmlResponse

    from crawler.runner import crawl_settings
    from crawler.spiders.news import NewsSpider

    registry = tmp_path / "sources.toml"
    registry.write_text(
        '[[source]]\nid = "t"\nname = "T"\nhomepage = "http://127.0.0.1:9/"\narticle_pattern = "/read/"\n', "utf-8"
    )
    from scrapy.statscollectors import MemoryStatsCollector

    crawler = Crawler(NewsSpider, crawl_settings(sources_file=registry, probe=True))
    crawler.stats = MemoryStatsCollector(crawler)
    spider = NewsSpider.from_crawler(crawler, source="t")
    body = ("<html><head><title>Pekan Batik</title></head><body><article><p>"
            + "Perajin batik Pekalongan memamerkan motif baru. " * 200
            + "</p></article><a href='/read/2/lain'>Berita lain tentang batik</a></body></html>").encode()
    callbacks = {"article": spider.parse_article, "listing": lambda r: spider.parse_listing(r, depth=0),
                 "homepage": spider.parse_homepage}
    gc.disable()
    try:
        for kind, callback in callbacks.items():
            spider.scheduled.clear()  # each callback finds the same link
            url = "http://127.0.0.1:9/read/1/pekan-batik"
            response = HtmlResponse(url, body=body, encoding="utf-8", request=Request(url))
            page = weakref.ref(response)
            output = list(callback(response))
            del response
            assert output, kind
            assert page() is None, f"the {kind} page is still in memory after its callback"
    finally:
        gc.enable()


def test_commands_start_without_numpy():
    """numpy costs about 100 ms at every command's start and no command but a timeline PNG needs
    it; the migrations module of sqlite-utils had brought it back."""
    import subprocess
    import sys

    from helpers import REPO

    code = "import sys, ccnews.cli, indexer, archive; print('numpy' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_sources_crawled_side_by_side_share_the_budgets_of_one_process():
    from crawler.runner import crawl_settings, share_budgets

    def split(sources, **overrides):
        settings = crawl_settings(overrides=overrides)
        share_budgets(settings, sources)
        return settings.getint("CONCURRENT_REQUESTS"), settings.getint("SCRAPER_SLOT_MAX_ACTIVE_SIZE")

    assert split(1) == (16, 5_000_000)  # one source: the settings as they are
    requests, pages = split(39)  # `crawl --all` over 39 outlets
    assert requests == 2 and pages * 39 <= 20_000_000 < pages * 40
    assert split(200) == (2, 500_000)  # never so little that a slow outlet cannot be fetched
    # values given by hand stay
    assert split(39, CONCURRENT_REQUESTS=8, SCRAPER_SLOT_MAX_ACTIVE_SIZE=3_000_000) == (8, 3_000_000)


def test_a_killed_crawls_request_queue_is_removed_by_the_next(tmp_path):
    """A crawl killed outright leaves its disk queue behind; the next crawl removes it, and never
    the queue of a crawl still running."""
    import subprocess
    import sys

    from crawler.queue import _remove_orphans

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for pid in (int(gone.stdout), running.pid):
            (tmp_path / f"{pid}-abc" / "requests.queue").mkdir(parents=True)
        _remove_orphans(tmp_path)
        assert [p.name for p in tmp_path.iterdir()] == [f"{running.pid}-abc"]
    finally:
        running.kill()
        running.wait()


def test_ccnews_run_under_a_profiler_still_writes_its_profile(tmp_path):
    """`ccnews` ends without Python's finalization, except under a profiler or a tracer, which
    write their results once the program has returned."""
    import pstats
    import subprocess
    import sys

    from helpers import REPO

    out = tmp_path / "search.prof"
    run = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "ccnews", "search", "batik",
                          "--data-dir", str(tmp_path / "none")], capture_output=True, text=True, cwd=REPO)
    assert "no archive at" in run.stderr  # (cProfile's own exit code is 0 whatever the program's)
    assert any("cli.py" in file for file, _, _ in pstats.Stats(str(out)).stats)
