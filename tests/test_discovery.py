"""Feed, sitemap and pagination parsing on stored snippets."""

from __future__ import annotations

import pytest

from crawler import discovery as disc


@pytest.mark.parametrize("url, expected", [
    ("https://x.id/read/12/batik-pekalongan?page=2", ("https://x.id/read/12/batik-pekalongan", 2)),
    ("https://x.id/read/12/batik-pekalongan/2", ("https://x.id/read/12/batik-pekalongan", 2)),
    ("https://x.id/kategori/berita/page/3", ("https://x.id/kategori/berita", 3)),
    ("https://x.id/read/12345", None),  # an id, not a page
    ("https://x.id/read/12/batik-pekalongan", None),
])
def test_page_numbers(url, expected):
    assert disc.page_number(url) == expected


def test_rdf_feed_items_are_read():
    body = b"""<?xml version="1.0"?>
    <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
             xmlns:dc="http://purl.org/dc/elements/1.1/">
      <item rdf:about="https://x.id/read/1/a"><title>A</title><link>https://x.id/read/1/a</link>
        <dc:date>2024-01-02T10:00:00+07:00</dc:date></item>
    </rdf:RDF>"""
    entries = list(disc.feed_entries(disc.parse_xml(body), "https://x.id/"))
    assert [(e.url, e.date) for e in entries] == [("https://x.id/read/1/a", "2024-01-02T10:00:00+07:00")]


def test_entity_declarations_are_refused():
    bomb = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol2;</loc></url></urlset>"""
    with pytest.raises(disc.MalformedXML):
        disc.parse_xml(bomb)


@pytest.mark.parametrize("body", [b"", b"<html><body>not xml", b"\x00\x01\x02garbage"])
def test_broken_documents_are_malformed_or_not_feeds(body):
    try:
        root = disc.parse_xml(body)
    except disc.MalformedXML:
        return
    assert disc.xml_kind(root) is None


def test_robots_sitemap_lines():
    text = "User-agent: *\nDisallow: /private/\nSitemap: /sitemap.xml\nsitemap: https://x.id/news.xml\n"
    assert disc.sitemaps_from_robots(text, "https://x.id/robots.txt") == [
        "https://x.id/sitemap.xml", "https://x.id/news.xml"]


@pytest.mark.parametrize("url, ok", [
    ("https://x.id/read/12/batik-pekalongan-mendunia", True),
    ("https://x.id/berita/20240101/123456", True),
    ("https://x.id/tag/batik", False),
    ("https://x.id/kategori/budaya", False),
    ("https://x.id/", False),
])
def test_article_like_links(url, ok):
    assert disc.looks_like_article(url) is ok
