"""A real crawl of the fixture sites through `ccnews crawl`, checked from the archive and server."""

from __future__ import annotations

import json

import sqlite_utils
from helpers import (
    BACA_JUGA,
    GOOGLE_NEWS,
    P101,
    P102,
    P103,
    P104,
    P105,
    P106,
    P107,
    P110,
    P202,
    PRIVATE,
    SEED_SUMBER,
    articles,
    by_path,
    hits,
)


def test_rss_feed_entry_is_archived(crawled):
    assert by_path(articles(crawled["data"]), P101)["title"].startswith("Kejar Kota Kreatif")


def test_atom_feed_entry_is_archived(crawled):
    assert by_path(articles(crawled["data"]), P110)["language"] == "th"


def test_gzipped_sitemap_from_sitemap_index_is_followed(crawled):
    assert by_path(articles(crawled["data"]), P103)["title"] == "Bandung Gelar Pekan Desain Kota"


def test_google_news_sitemap_entry_is_archived_with_its_date(crawled):
    assert by_path(articles(crawled["data"]), P104)["published"] == "2024-03-09T20:00:00+09:00"


def test_paginated_listing_is_followed_to_its_last_page(crawled):
    assert hits(crawled["outlet_requests"], "/kategori/berita?page=4") == 1
    by_path(articles(crawled["data"]), P106)  # only listed on page 2
    by_path(articles(crawled["data"]), P107)  # only listed on page 3


def test_robots_txt_disallow_is_obeyed(crawled, sites):
    assert sites.outlet.hits(PRIVATE) == 0  # ever, by any test's crawl
    assert not [r for r in articles(crawled["data"]) if "private" in r["url"]]


def test_redirected_and_tracking_urls_make_one_record(crawled):
    rows = [r for r in articles(crawled["data"]) if "/read/101/" in r["url"]]
    assert len(rows) == 1
    assert rows[0]["url"].endswith(P101)
    # Feed (with utm_ parameters), sitemap (trailing slash) and Atom (an old redirecting URL)
    # all name this article; it is downloaded once.
    assert hits(crawled["outlet_requests"], P101) == 1


def test_missing_and_broken_pages_are_counted_as_errors_not_archived(crawled):
    db = sqlite_utils.Database(crawled["data"] / "archive.db")
    run = next(db.query("select * from crawl_runs where source = 'warta-uji'"))
    stats = json.loads(run["stats"])
    assert stats["ccnews/errors/http_404"] == 1
    assert stats["ccnews/errors/http_500"] == 1
    assert run["errors"] == 2
    urls = [r["url"] for r in articles(crawled["data"])]
    assert not [u for u in urls if "/read/404/" in u or "/read/500/" in u]


def test_server_errors_are_retried(crawled):
    assert sum(1 for p, _m, s in crawled["outlet_requests"] if p == "/read/500/server-sedang-rusak") == 4


def test_non_html_response_is_skipped_and_counted(crawled):
    db = sqlite_utils.Database(crawled["data"] / "archive.db")
    run = next(db.query("select * from crawl_runs where source = 'warta-uji'"))
    assert json.loads(run["skipped"])["not_html"] == 1
    assert not [r for r in articles(crawled["data"]) if "/read/201/" in r["url"]]


def test_lying_charset_header_is_decoded_right(crawled):
    row = by_path(articles(crawled["data"]), P202)
    assert row["title"] == "Kreasi Batik “Jlamprang” dengan Charset Keliru"
    assert "café latte dan krém" in row["text"]


def test_multi_page_article_is_merged_into_one_record(crawled):
    row = by_path(articles(crawled["data"]), P102)
    assert row["pages"] == 3
    text = row["text"]
    assert text.index("Halaman pertama") < text.index("Halaman kedua") < text.index("Halaman ketiga")
    # Pages 2 and 3 print the headline and date line again at their top: not repeated in the body.
    assert "WIB" not in text and "Pekan Batik Nusantara Ramai Pengunjung" not in text
    assert not [r for r in articles(crawled["data"]) if "page=2" in r["url"]]


def test_meta_keywords_become_a_list_of_tags(crawled):
    row = by_path(articles(crawled["data"]), P101)
    assert json.loads(row["tags"])[:2] == ["kota kreatif", "UNESCO"]  # <meta name="keywords" content="a, b">


def test_indonesian_date_printed_in_text_is_read_with_its_zone(crawled):
    # The page has no date metadata, only "Jumat, 11 Maret 2016 08:30 WIB".
    assert by_path(articles(crawled["data"]), P101)["published"] == "2016-03-11T08:30:00+07:00"


def test_thai_buddhist_era_date_is_read(crawled):
    # "วันที่ 5 ก.พ. 2567 เวลา 09:15 น." is 5 February 2024, 09:15 in Bangkok/Jakarta time.
    assert by_path(articles(crawled["data"]), P110)["published"] == "2024-02-05T09:15:00+07:00"


def test_bylines_become_clean_author_names(crawled):
    rows = articles(crawled["data"])
    assert by_path(rows, P101)["authors"] == ["Nul", "Ratna Dewi"]
    assert by_path(rows, P102)["authors"] == ["Dimas Prasetyo"]
    assert by_path(rows, P103)["authors"] == ["Rina Kartika"]
    assert by_path(rows, P107)["authors"] == ["Somchai Wongsa"]


def test_inline_outlet_boilerplate_is_removed(crawled):
    text = by_path(articles(crawled["data"]), P101)["text"]
    assert BACA_JUGA not in text and "Baca Juga" not in text
    assert GOOGLE_NEWS not in text
    assert "Koordinator Tim Inisiasi Kota Kreatif Chiang Mai" in text


def test_republished_copy_is_kept_as_its_own_record(crawled):
    rows = [r for r in articles(crawled["data"]) if r["title"] and r["title"].startswith("Kejar Kota Kreatif")]
    assert sorted(r["source"] for r in rows) == ["kota-uji", "warta-uji"]
    copy = next(r for r in rows if r["source"] == "kota-uji")
    assert SEED_SUMBER.strip("()") in copy["text"]


def test_feeds_and_sitemaps_are_discovered_when_not_configured(crawled):
    # kota-uji has no feeds or sitemaps in the registry: robots.txt names its sitemap.
    assert hits(crawled["city_requests"], "/sitemap.xml") == 1
    assert by_path(articles(crawled["data"]), "/berita/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik")


def test_link_list_page_is_not_archived_and_counted(crawled):
    assert not [r for r in articles(crawled["data"]) if r["url"].endswith("/berita/indeks")]
    db = sqlite_utils.Database(crawled["data"] / "archive.db")
    run = next(db.query("select * from crawl_runs where source = 'kota-uji'"))
    assert json.loads(run["skipped"]).get("listing_page") == 1


def test_crawl_prints_a_summary_per_source(crawled):
    out = crawled["result"].stdout
    assert "crawl summary" in out
    line = next(ln for ln in out.splitlines() if "warta-uji" in ln)
    assert "finished" in line and "not_html 1" in line


def test_every_run_is_recorded(crawled):
    db = sqlite_utils.Database(crawled["data"] / "archive.db")
    runs = {r["source"]: r for r in db.query("select * from crawl_runs")}
    assert set(runs) == {"warta-uji", "kota-uji"}
    assert runs["warta-uji"]["articles_new"] == len(
        [r for r in articles(crawled["data"]) if r["source"] == "warta-uji"]
    )
    assert runs["warta-uji"]["finish_reason"] == "finished" and runs["warta-uji"]["finished"]


def test_raw_html_is_kept_compressed(crawled):
    from archive import Archive

    with Archive(crawled["data"]) as archive:
        row = by_path(articles(crawled["data"]), P102)
        pages = archive.raw_pages(row["id"])
    assert [p["page_no"] for p in pages] == [1, 2, 3]
    assert b"Halaman kedua" in pages[1]["body"]
    db = sqlite_utils.Database(crawled["data"] / "archive.db")
    stored = next(
        db.query("select size, length(body) as packed from raw_pages where article_id = ? and page_no = 1", [row["id"]])
    )
    assert stored["packed"] < stored["size"]


def test_archive_uses_wal(crawled):
    db = sqlite_utils.Database(crawled["data"] / "archive.db")
    assert db.journal_mode == "wal"


def test_old_news_sitemap_entry_is_archived_without_since(crawled):
    assert by_path(articles(crawled["data"]), P105)["published"].startswith("2012-05-01")


def test_pending_requests_wait_on_disk_for_the_run_only(crawled):
    """Requests wait in Scrapy's disk queue, in a directory of the run (a 50,000-URL sitemap held
    in memory cost the crawl process 129 MB), removed when the crawl ends: nothing is restored."""
    db = sqlite_utils.Database(crawled["data"] / "archive.db")
    for run in db.query("select source, stats from crawl_runs"):
        stats = json.loads(run["stats"])
        assert stats["scheduler/enqueued/disk"] == stats["scheduler/enqueued"] > 5, run["source"]
        assert "scheduler/unserializable" not in stats, run["source"]
    assert list((crawled["data"] / "queue").iterdir()) == []
