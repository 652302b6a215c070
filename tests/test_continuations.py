"""A URL's shape never drops an article: `?p=ID` and numeric ids are articles, and only a page shown
to be page 2+ of a known article is skipped, and counted."""

from __future__ import annotations

import json

import pytest
from helpers import FAST, articles, run_ccnews

from ccnews.sites import SiteArticle, SiteServer, SiteSpec, build_site

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


REGISTRY = """\
[[source]]
id = "wp"
name = "WP"
homepage = "{base}/"
language = "id"
timezone = "Asia/Jakarta"
feeds = ["{base}/feed"]
sitemaps = ["{base}/sitemap.xml"]
delay = 0.0
"""


def para(n: int, topic: str) -> str:
    return (f"Bagian {n}: para perajin {topic} di Pekalongan memamerkan karya terbaru mereka di hadapan pengunjung "
            "yang datang dari berbagai kota. Panitia mencatat penjualan naik dibanding tahun lalu dan berharap "
            "kegiatan serupa digelar lebih sering di ruang publik kota.")


def article(path: str, topic: str, pages: int = 1) -> SiteArticle:
    return SiteArticle(
        path=path,
        title=f"Kabar {topic.title()}",
        pages=[[para(n + 1, topic), para(n + 1, topic + " muda")] for n in range(pages)],
        published="2024-05-02T09:00:00+07:00",
        shown_date="2 Mei 2024",
    )


def crawl_site(tmp_path, arts, extra_sitemap=()):
    spec = SiteSpec(name="WP", lang="id", articles=arts, extra_sitemap_paths=list(extra_sitemap))
    server = SiteServer(build_site(tmp_path / "site", spec)).start()
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY.format(base=server.base), "utf-8")
    data = tmp_path / "data"
    try:
        result = run_ccnews("crawl", "wp", *FAST, data_dir=data, registry=registry)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads(run_ccnews("runs", "--json", data_dir=data).stdout)[0]
    return {r["url"].split("/", 3)[-1]: r for r in articles(data)}, run


def test_wordpress_default_permalinks_are_articles(tmp_path):
    found, run = crawl_site(tmp_path, [article("/?p=101", "batik tulis"), article("/?p=102", "batik cap"),
                                       article("/?p=103", "tenun ikat", pages=2)])
    assert sorted(found) == ["?p=101", "?p=102", "?p=103"]
    # The multi-page post is one article with both pages.
    assert found["?p=103"]["pages"] == 2
    assert "Bagian 1" in found["?p=103"]["text"] and "Bagian 2" in found["?p=103"]["text"]
    assert "continuation" not in run["skipped"]


def test_numeric_ids_after_a_word_are_articles(tmp_path):
    found, _run = crawl_site(tmp_path, [article("/berita/detail/id/718", "wayang"),
                                        article("/event/887/", "festival kuliner"),
                                        article("/veranstaltung/12/", "pameran kriya")])
    assert sorted(found) == ["berita/detail/id/718", "event/887/", "veranstaltung/12/"]


def test_a_listed_page_two_of_a_known_article_is_skipped_and_counted(tmp_path):
    found, run = crawl_site(tmp_path, [article("/read/7/pameran-batik", "batik", pages=3)],
                            extra_sitemap=["/read/7/pameran-batik?page=2"])
    assert list(found) == ["read/7/pameran-batik"]
    assert found["read/7/pameran-batik"]["pages"] == 3
    assert run["skipped"]["continuation"] == 1


@pytest.mark.parametrize("url, expected", [
    ("https://x.id/?p=3289", None),  # a WordPress post id, not a page
    ("https://x.id/?p=103&page=2", ("https://x.id/?p=103", 2)),
    ("https://x.id/read/12/batik?page=2", ("https://x.id/read/12/batik", 2)),
])
def test_page_numbers_do_not_take_post_ids_for_pages(url, expected):
    from crawler import discovery as disc

    assert disc.page_number(url) == expected
