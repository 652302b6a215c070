"""The archive keeps every article: canonical links never merge different articles, and a changed
page never overwrites what was archived before."""

from __future__ import annotations

import json

import pytest
import sqlite_utils

from ccnews.sites import SiteArticle, SiteServer, SiteSpec, build_site
from conftest import FAST, articles, run_ccnews

PARA = ("Pemerintah kota kembali menggelar rangkaian kegiatan {topic} yang melibatkan komunitas kreatif, "
        "pelajar dan pelaku usaha kecil di {place}. Kegiatan ini menjadi bagian dari komitmen kota dalam "
        "Jejaring Kota Kreatif UNESCO dan berlangsung selama satu pekan di sejumlah ruang publik kota.")


def art(n: int, topic: str, place: str, canonical: str | None = None, path: str | None = None) -> SiteArticle:
    return SiteArticle(
        path=path or f"/read/{n}/berita-{topic.replace(' ', '-')}", title=f"Berita {topic.title()} di {place}",
        pages=[[PARA.format(topic=topic, place=place), f"Panitia {topic} di {place} mencatat ribuan pengunjung "
                "dari berbagai daerah yang datang setiap hari selama kegiatan berlangsung."]],
        published=f"2024-05-{n:02d}T09:00:00+07:00", shown_date=f"{n} Mei 2024", canonical=canonical,
    )


REGISTRY = """\
[[source]]
id = "kanon"
name = "Kanon"
homepage = "{base}/"
language = "id"
timezone = "Asia/Jakarta"
sitemaps = ["{base}/sitemap.xml"]
article_pattern = "/read/"
delay = 0.0
"""


@pytest.fixture
def canonical_site(tmp_path):
    a = art(1, "pameran batik", "Pekalongan")
    spec = SiteSpec(name="Kanon", lang="id", articles=[
        a,
        # Another article whose template names A as its canonical.
        art(2, "festival musik", "Ambon", canonical=a.path),
        # Three articles whose canonical is the front page.
        art(3, "pekan desain", "Bandung", canonical="/"),
        art(4, "festival sastra", "Jakarta", canonical="/"),
        art(5, "kuliner khas", "Pekalongan", canonical="/"),
        # Two that share one canonical which does not exist.
        art(6, "lomba film", "Bandung", canonical="/read/999/tidak-ada"),
        art(7, "pameran kriya", "Surakarta", canonical="/read/999/tidak-ada"),
        # The same article as A at a second address (an AMP-style copy): one record with A.
        SiteArticle(**{**a.__dict__, "path": "/read/amp/1/berita-pameran-batik", "canonical": a.path}),
    ])
    server = SiteServer(build_site(tmp_path / "site", spec)).start()
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY.format(base=server.base), "utf-8")
    yield server, registry
    server.stop()


def crawl(registry, data):
    result = run_ccnews("crawl", "kanon", *FAST, data_dir=data, registry=registry)
    assert result.returncode == 0, result.stderr[-2000:]
    db = sqlite_utils.Database(data / "archive.db")
    run = next(db.query("select * from crawl_runs order by id desc limit 1"))
    db.close()
    return run


def test_canonical_links_never_merge_different_articles(canonical_site, tmp_path):
    server, registry = canonical_site
    data = tmp_path / "data"
    crawl(registry, data)
    rows = articles(data)
    titles = sorted(r["title"] for r in rows)
    # Seven distinct articles; the AMP-style copy of the first is the same article, so no eighth.
    assert len(rows) == 7, titles
    assert len(set(titles)) == 7
    first = next(r for r in rows if "Pameran Batik" in r["title"])
    db = sqlite_utils.Database(data / "archive.db")
    urls = {u["url"].split("/", 3)[-1] for u in db.query("select url from article_urls where article_id = ?", [first["id"]])}
    assert urls == {"read/1/berita-pameran-batik", "read/amp/1/berita-pameran-batik"}
    # Every article kept its own raw page.
    assert db.execute("select count(distinct article_id) from raw_pages").fetchone()[0] == 7


def test_a_second_crawl_of_canonical_traps_changes_nothing(canonical_site, tmp_path):
    server, registry = canonical_site
    data = tmp_path / "data"
    crawl(registry, data)
    before = {r["id"]: (r["title"], r["content_hash"]) for r in articles(data)}
    run = crawl(registry, data)
    assert run["articles_updated"] == 0 and run["articles_new"] == 0
    assert {r["id"]: (r["title"], r["content_hash"]) for r in articles(data)} == before


@pytest.fixture
def changing_site(tmp_path):
    spec = SiteSpec(name="Kanon", lang="id", articles=[art(1, "pameran batik", "Pekalongan"),
                                                       art(2, "festival musik", "Ambon")])
    server = SiteServer(build_site(tmp_path / "site", spec)).start()
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY.format(base=server.base), "utf-8")
    yield server, registry
    server.stop()


def test_a_changed_page_keeps_the_earlier_capture_as_a_version(changing_site, tmp_path):
    server, registry = changing_site
    data = tmp_path / "data"
    crawl(registry, data)
    (first,) = [r for r in articles(data) if "Pameran Batik" in r["title"]]
    page = server.root / server.routes["/read/1/berita-pameran-batik"]["file"]
    # The outlet silently corrects the article, then replaces it with another one (a redesign).
    page.write_text(page.read_text("utf-8").replace("ribuan pengunjung", "puluhan ribu pengunjung"), "utf-8")
    assert crawl(registry, data)["articles_updated"] == 1
    page.write_text(page.read_text("utf-8").replace("pameran batik", "lomba layang-layang")
                    .replace("Pameran Batik", "Lomba Layang-Layang"), "utf-8")
    assert crawl(registry, data)["articles_updated"] == 1
    (now,) = [r for r in articles(data) if r["id"] == first["id"]]
    assert "Layang" in now["title"]
    shown = run_ccnews("show", str(first["id"]), "--versions", "--json", data_dir=data)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["title"] == now["title"]
    versions = record["versions"]
    assert [("puluhan ribu" in v["text"], "Pameran Batik" in v["title"]) for v in versions] == [(False, True), (True, True)]
    assert versions[0]["captured_at"] <= versions[1]["captured_at"] <= now["fetched_at"]
    # The raw pages of every capture are kept, byte for byte as served then.
    raw = run_ccnews("show", str(first["id"]), "--raw", "--version", "1", data_dir=data)
    assert raw.returncode == 0, raw.stderr
    assert "ribuan pengunjung" in raw.stdout and "puluhan ribu" not in raw.stdout and "Pameran Batik" in raw.stdout


# -- the index: one writer at a time, and nothing flagged that it does not hold -------------------

SYNC_BESIDE = """
import sys
from archive import Archive
from indexer import IndexBusy, sync
with Archive(sys.argv[1]) as archive:
    try:
        print(sync(archive, sys.argv[1], wait=0.5))
    except IndexBusy:
        print("busy")
"""


def store(archive, n: int, word: str) -> int:
    body = f"Kabar {word} dari kota kreatif nomor {n}: " + PARA.format(topic="pameran", place="Pekalongan")
    return archive.store_article({"url": f"http://127.0.0.1:1/read/{n}/{word}", "source": "s", "title": f"{word} {n}",
                                  "text": body, "published": "2024-05-01T09:00:00+07:00", "language": "id"},
                                 pages=[{"url": f"http://127.0.0.1:1/read/{n}/{word}", "body": b"<html></html>"}])[1]


def indexed_ids(data) -> set[int]:
    from indexer import matching_ids

    return set(matching_ids(data, ""))


def test_an_indexer_beside_a_crawl_never_writes_into_an_index_being_rebuilt(tmp_path):
    import subprocess
    import sys

    from archive import Archive
    from conftest import REPO
    from indexer import rebuild, sync

    data = tmp_path
    with Archive(data) as archive:
        for n in range(5):
            store(archive, n, "lama")
        sync(archive, data)
    beside = {}

    def while_rebuilding(_done):
        # A crawl archives an article and its indexer runs, while the rebuild writes its new index.
        with Archive(data) as other:
            beside["id"] = store(other, 99, "terlambat")
        beside["sync"] = subprocess.run([sys.executable, "-c", SYNC_BESIDE, str(data)], cwd=REPO,
                                        capture_output=True, text=True, timeout=60)

    with Archive(data) as archive:
        rebuild(archive, data, progress=while_rebuilding)
        flagged = {r[0] for r in archive.db.execute("select id from articles where indexed = 1")}
    assert beside["sync"].stdout.strip() == "busy", beside["sync"].stderr
    # Nothing is flagged as indexed that the index searches do not hold.
    assert flagged <= indexed_ids(data)
    assert beside["id"] not in flagged
    # The check finds the late article waiting and indexes it.
    result = run_ccnews("reindex", "--verify", data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "1 were waiting" in result.stderr
    assert beside["id"] in indexed_ids(data)


def test_reindex_verify_repairs_an_index_that_lost_articles(tmp_path):
    from archive import Archive
    from indexer import sync

    data = tmp_path
    with Archive(data) as archive:
        ids = [store(archive, n, "arsip") for n in range(6)]
        sync(archive, data)
    # Drift: the index loses two articles the archive says it holds, and keeps one it no longer has.
    from whoosh import index as wi

    ix = wi.open_dir(str(data / "index"))
    with ix.writer() as w:
        w.delete_by_term("id", str(ids[0]))
        w.delete_by_term("id", str(ids[1]))
        w.add_document(id="4242", source="s", url="http://127.0.0.1:1/gone", title="hilang", text="hilang")
    assert indexed_ids(data) == set(ids[2:]) | {4242}
    result = run_ccnews("reindex", "--verify", data_dir=data)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("2 article(s) flagged as indexed were missing from the index, 1 indexed")
    assert indexed_ids(data) == set(ids)
    again = run_ccnews("reindex", "--verify", data_dir=data)
    assert "the index matches the archive" in again.stderr
