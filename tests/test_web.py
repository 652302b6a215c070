"""`ccnews serve`: the web page on the crawled fixture archive, over real HTTP on 127.0.0.1, and in
a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from helpers import articles, by_path, run_ccnews

from ccnews.web import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page_server(crawled):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(crawled["data"]), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def get(base: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_a_syndicated_story_shows_once_with_its_copies_and_facet_counts(page_server, crawled):
    status, html = get(page_server, "/?q=Icheon")
    assert status == 200
    assert html.count('class="hit"') == 1
    assert "also published by:" in html and ">kota-uji</a>" in html
    # Counts beside each filter value, for the current query; each value is a link keeping the query.
    assert '<a class="" href="?q=Icheon&amp;source=warta-uji">warta-uji</a> <span class="n">1</span>' in html
    assert '<a class="" href="?q=Icheon&amp;source=kota-uji">kota-uji</a> <span class="n">1</span>' in html
    assert "<mark>Icheon</mark>" in html
    assert "<svg" in html and "articles per year" in html
    assert "<title>2016: 2</title>" in html  # the founding article and its copy, in the year's bar


def test_the_state_lives_in_the_url(page_server):
    _s, html = get(page_server, "/?q=batik&source=kota-uji&sort=date")
    assert 'value="batik"' in html and 'value="date" selected' in html
    assert "· warta-uji ·" not in html and "· kota-uji ·" in html  # only the chosen source's articles
    hits = html.count('class="hit"')
    assert hits >= 1
    _s, toggled_off = get(page_server, "/?q=batik")
    assert toggled_off.count('class="hit"') > hits


def test_malformed_queries_and_filters_are_said_inline(page_server):
    status, html = get(page_server, "/?q=" + urllib.parse.quote('"chiang mai'))
    assert status == 200 and 'class="error"' in html and "unbalanced quote" in html
    _s, html = get(page_server, "/?q=batik&field=pottery")
    assert "is not a creative field" in html
    _s, html = get(page_server, "/?q=batik&since=2025-01-01&until=2020-01-01")
    assert "later than --until" in html


def test_pages_and_csv_download(page_server, crawled):
    _s, first = get(page_server, "/?q=kota")
    assert 'rel="next"' in first or first.count('class="hit"') < 20
    status, text = get(page_server, "/export.csv?q=batik")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    by_url = {a["url"]: a for a in articles(crawled["data"])}
    assert rows and all(r["url"] in by_url for r in rows)
    assert all("batik" in (by_url[r["url"]]["text"] + by_url[r["url"]]["title"]).lower() for r in rows)


def test_an_article_page_shows_the_text_and_copies(page_server, crawled):
    original = by_path(articles(crawled["data"]), "/read/101/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik")
    status, html = get(page_server, f"/article/{original['id']}")
    assert status == 200 and original["title"] in html
    assert "Copies" in html and "kota-uji" in html
    assert get(page_server, "/article/999999")[0] == 404


def test_archived_values_are_escaped_and_never_become_script_links():
    from ccnews.web import marked, web_href

    assert web_href("javascript:alert(1)") == "#" and web_href("JaVaScRiPt:x") == "#"
    assert web_href("data:text/html,<script>") == "#"
    assert web_href("https://radarpekalongan.com/24530/x/") == "https://radarpekalongan.com/24530/x/"
    assert str(marked('<script>alert(1)</script> **batik** <img src=x onerror=y>')) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; <mark>batik</mark> &lt;img src=x onerror=y&gt;")


def test_every_asset_is_bundled(page_server):
    _s, html = get(page_server, "/?q=batik")
    assert 'href="/static/style.css"' in html
    assert "<script" not in html  # no JavaScript to fetch, no build step
    assert get(page_server, "/static/style.css")[0] == 200


def test_serve_without_an_archive_is_one_line(tmp_path):
    result = run_ccnews("serve", data_dir=tmp_path / "none", timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: no archive at {tmp_path / 'none' / 'archive.db'}: run `ccnews crawl` or `ccnews demo` first"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ctrl_c_stops_the_server_with_one_line(crawled):
    import signal
    import subprocess
    import sys

    from helpers import REPO

    proc = subprocess.Popen([sys.executable, "-m", "ccnews", "serve", "--port", str(free_port()),
                             "--data-dir", str(crawled["data"])], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = proc.stderr.readline()
    assert first.startswith("serving "), first + proc.stderr.read()
    os.killpg(proc.pid, signal.SIGINT)
    _out, rest = proc.communicate(timeout=30)
    assert proc.returncode == 130 and rest.strip().splitlines() == ["interrupted"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing: .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def test_in_a_browser_search_filter_and_read(browser, page_server, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_server + "/")
    page.fill("input[name=q]", "batik")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("li.hit")
    assert "q=batik" in page.url
    before = page.locator("li.hit").count()
    page.click(".facets a:text-is('kota-uji')")
    page.wait_for_url("**source=kota-uji**")
    after = page.locator("li.hit").count()
    assert 0 < after < before
    assert all("kota-uji" in m for m in page.locator("li.hit .meta").all_inner_texts())
    # CCNEWS_SCREENSHOTS=docs keeps the pictures the README shows.
    shots = Path(os.environ.get("CCNEWS_SCREENSHOTS") or tmp_path)
    page.screenshot(path=str(shots / "serve-search.png"), full_page=True)
    page.click("li.hit a.title >> nth=0")
    page.wait_for_selector("article h1")
    assert "/article/" in page.url and page.inner_text("article h1")
    page.screenshot(path=str(shots / "serve-article.png"), full_page=True)
    page.close()
