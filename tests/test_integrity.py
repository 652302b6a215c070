"""The archive keeps every article: canonical links never merge different articles, and a changed
page never overwrites what was archived before."""

from __future__ import annotations

import json

import pytest
import sqlite_utils
from helpers import FAST, articles, run_ccnews

from ccnews.sites import SiteArticle, SiteServer, SiteSpec, build_site

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


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
    urls = {
        u["url"].split("/", 3)[-1] for u in db.query("select url from article_urls where article_id = ?", [first["id"]])
    }
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
    assert [("puluhan ribu" in v["text"], "Pameran Batik" in v["title"]) for v in versions] == [
        (False, True),
        (True, True),
    ]
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

    from helpers import REPO

    from archive import Archive
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


# -- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A real file system of 3 MB (tmpfs), for the archive to fill up."""
    import os
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        if os.environ.get("CI"):
            raise RuntimeError(f"cannot mount a tmpfs for the full-disk test: {done.stderr.decode()}")
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def wordy_site(tmp_path, n_articles: int, paragraphs: int) -> tuple[SiteServer, object]:
    import random

    rnd = random.Random(7)
    vocab = [f"{a}{b}" for a in ("ba", "ti", "ko", "ra", "me", "su", "pe", "la") for b in
             ("tik", "long", "gan", "kreatif", "kota", "seni", "kriya", "musik", "desa", "pasar")]
    arts = [SiteArticle(path=f"/read/{n}/kabar-panjang-{n}", title=f"Kabar Panjang Nomor {n}",
                        pages=[[" ".join(rnd.choice(vocab) for _ in range(120)) + "." for _ in range(paragraphs)]],
                        published="2024-05-01T09:00:00+07:00", shown_date="1 Mei 2024")
            for n in range(n_articles)]
    server = SiteServer(build_site(tmp_path / "site", SiteSpec(name="Panjang", lang="id", articles=arts))).start()
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY.format(base=server.base), "utf-8")
    return server, registry


def test_a_full_disk_stops_the_crawl_with_one_line_and_a_failure(small_disk, tmp_path):
    # 300 pages of 150 KB: the archive fills up after a few dozen, and Scrapy's back-pressure on
    # items waiting for the pipeline keeps the crawl from fetching far ahead of the archive.
    server, registry = wordy_site(tmp_path, n_articles=300, paragraphs=150)
    try:
        result = run_ccnews("crawl", "kanon", *FAST, "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
                            data_dir=small_disk / "data", registry=registry)
    finally:
        server.stop()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    full = [line for line in result.stderr.splitlines() if "is full" in line]
    assert full and len(full) <= 3, result.stderr[-3000:]
    assert "kanon failed: the disk holding the archive" in result.stderr
    assert len(result.stderr) < 5000, result.stderr[-3000:]
    # It stopped soon after the disk filled, instead of fetching every page for nothing.
    fetched = sum(1 for path, _m, status in server.requests if path.startswith("/read/") and status == 200)
    assert fetched < 150, fetched
    # What was archived before is intact and readable.
    shown = run_ccnews("export", "--format", "json", "--no-text", data_dir=small_disk / "data")
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)) >= 1


def fill(disk) -> None:
    """Fill a file system to the last byte."""
    import errno

    for name, block in (("filler", 65536), ("filler2", 512)):  # then the last partial block
        with open(disk / name, "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def small_archive(data, n: int = 8, title: str | None = None, **extra) -> list[int]:
    from archive import Archive

    ids = []
    with Archive(data) as archive:
        for i in range(n):
            url = f"http://127.0.0.1:1/read/{i}/kabar"
            ids.append(archive.store_article(
                {"url": url, "source": "s", "title": title or f"Kabar {i}", "published": "2024-05-01T09:00:00+07:00",
                 "text": f"Nomor {i}. " + PARA.format(topic="pameran", place="Pekalongan") * 20, **extra},
                pages=[{"url": url, "body": b"<html>" + b"x" * 2000 + b"</html>"}])[1])
    return ids


def test_export_onto_a_full_disk_is_one_line_and_keeps_the_previous_file(small_disk, tmp_path):
    data = tmp_path / "data"
    small_archive(data)
    target = small_disk / "export.csv"
    target.write_text("the previous, good export\n")
    fill(small_disk)
    result = run_ccnews("export", "-o", str(target), data_dir=data)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Error: cannot write {target}: No space left on device"]
    assert target.read_text() == "the previous, good export\n"
    assert sorted(p.name for p in small_disk.iterdir()) == ["export.csv", "filler", "filler2"]


def test_a_timeline_png_onto_a_full_disk_is_one_line(small_disk, tmp_path):
    data = tmp_path / "data"
    small_archive(data)
    fill(small_disk)
    result = run_ccnews("timeline", "--png", str(small_disk / "t.png"), data_dir=data)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1] == f"Error: cannot write {small_disk / 't.png'}: No space left on device"
    )
    assert not (small_disk / "t.png").exists()


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(tmp_path):
    import csv
    import io

    data = tmp_path / "data"
    small_archive(data, n=1, title='=HYPERLINK("http://127.0.0.1:1/x","klik")', authors=["@SUM(A1)", "Ani"],
                  description="-2+3")
    result = run_ccnews("export", "--format", "csv", "--no-text", data_dir=data)
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row["title"] == "'=HYPERLINK(\"http://127.0.0.1:1/x\",\"klik\")"
    assert row["authors"] == "'@SUM(A1); Ani"
    assert row["description"] == "'-2+3"
    raw = run_ccnews("export", "--format", "csv", "--no-text", "--keep-formulas", data_dir=data)
    (row,) = list(csv.DictReader(io.StringIO(raw.stdout)))
    assert row["title"].startswith("=HYPERLINK") and row["description"] == "-2+3"


@pytest.mark.parametrize("command", [["export", "--no-text"], ["timeline"], ["retag"], ["reindex"]])
def test_an_archive_damaged_in_the_middle_is_one_line(tmp_path, command):
    data = tmp_path / "data"
    small_archive(data, n=400)
    run_ccnews("reindex", data_dir=data)
    db = data / "archive.db"
    size = db.stat().st_size
    with open(db, "r+b") as fh:  # a stretch of the file overwritten, as a bad disk or copy does
        fh.seek(size // 3)
        fh.write(b"\xa5" * (size // 3))
    result = run_ccnews(*command, data_dir=data)
    assert result.returncode == 1, result.stdout[-500:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0], result.stderr[-1500:]


@pytest.mark.parametrize("entry,message", [
    ("delay = inf", "field 'delay': expected a number of seconds from 0 to 600"),
    ("delay = nan", "field 'delay'"),
    ("delay = 1e308", "field 'delay'"),
    ('every = "1h"\nmin_every = "2h"', "field 'every': '1h' is outside min_every..max_every"),
    ('adapt = true\nmin_every = "6h"\nmax_every = "1h"', "'min_every' (6h) is longer than 'max_every' (1h)"),
    ('every = "100000d"', "outside 1 minute to 366 days"),
    ('feeds = ["http://169.254.169.254/latest/meta-data/"]', "is on a link-local address"),
    ('sitemaps = ["http://[fd00:ec2::254]/sitemap.xml"]', "is on a cloud metadata service"),
    ('city = "X\\nY"', "contains a control character"),
])
def test_registry_values_that_could_hang_or_misdirect_a_crawl_are_refused(tmp_path, entry, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[[source]]\nid = "x"\nname = "X"\nhomepage = "http://127.0.0.1:1/"\n{entry}\n', "utf-8")
    result = run_ccnews("sources", "list", "--sources", str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_a_registry_that_is_not_utf8_or_has_an_absurd_id_is_one_line(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[[source]]\nid = "x"\nname = "Radar Pékalongan"\nhomepage = "http://127.0.0.1:1/"\n'.encode("latin-1"))
    result = run_ccnews("sources", "list", "--sources", str(latin))
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: {latin}: the source registry is not UTF-8 text (byte 35)"
    huge = tmp_path / "huge.toml"
    huge.write_text(f'[[source]]\nid = "{"a" * 5000}"\nname = "X"\nhomepage = "http://127.0.0.1:1/"\n', "utf-8")
    result = run_ccnews("sources", "list", "--sources", str(huge))
    assert result.returncode == 1
    assert len(result.stderr) < 400 and "at most 64 characters" in result.stderr


def test_service_files_cannot_be_injected(tmp_path):
    evil = str(tmp_path / "data\n* * * * * touch /tmp/pwned")
    for command in (["schedule", "crontab"], ["schedule", "systemd"]):
        result = run_ccnews(*command, "--data-dir", evil)
        assert result.returncode == 1
        assert result.stdout == ""
        assert "contains a control character" in result.stderr
    result = run_ccnews("schedule", "systemd", "--user", "root\nExecStartPre=/bin/sh", "--data-dir", str(tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    # A % is a newline to cron and a specifier to systemd: escaped, not interpreted.
    odd = tmp_path / "100%data"
    line = run_ccnews("schedule", "crontab", "--data-dir", str(odd)).stdout.splitlines()[1]
    assert "100\\%data" in line and "100%data" not in line.replace("100\\%data", "")
    unit = run_ccnews("schedule", "systemd", "--data-dir", str(odd)).stdout
    assert "100%%data" in unit


def test_a_redirect_into_link_local_space_is_refused_and_counted(tmp_path):
    spec = SiteSpec(name="Kanon", lang="id", articles=[art(1, "pameran batik", "Pekalongan")],
                    extra_sitemap_paths=["/read/2/pindah"])
    routes = {"/read/2/pindah": {"redirect": "http://169.254.169.254/latest/meta-data/", "status": 302}}
    server = SiteServer(build_site(tmp_path / "site", spec, routes)).start()
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY.format(base=server.base), "utf-8")
    try:
        crawl(registry, tmp_path / "data")
    finally:
        server.stop()
    runs = json.loads(run_ccnews("runs", "--json", data_dir=tmp_path / "data").stdout)
    assert runs[0]["skipped"].get("off_site") == 1
    assert runs[0]["articles_new"] == 1 and runs[0]["errors"] == 0


def test_no_item_is_ever_dumped_to_the_log(tmp_path):
    # A page that is not an article (a listing of 5,000 links), which the crawl drops.
    links = "".join(f'<li><a href="/arsip/{i}">PENANDA{i} batik</a></li>' for i in range(5000))
    spec = SiteSpec(name="Kanon", lang="id", articles=[art(1, "pameran batik", "Pekalongan")],
                    extra_sitemap_paths=["/read/3/indeks-besar"])
    routes = {"/read/3/indeks-besar": {"body": f"<html><body><ul>{links}</ul></body></html>",
                                       "headers": {"Content-Type": "text/html; charset=utf-8"}}}
    server = SiteServer(build_site(tmp_path / "site", spec, routes)).start()
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY.format(base=server.base), "utf-8")
    try:
        for verbosity in ("-v", "-vv"):
            result = run_ccnews("crawl", "kanon", *FAST, verbosity, data_dir=tmp_path / f"data{verbosity}",
                                registry=registry)
            assert result.returncode == 0, result.stderr[-2000:]
            assert "PENANDA" not in result.stderr
            assert "/read/3/indeks-besar" in result.stderr  # the drop is logged, by URL
    finally:
        server.stop()


def test_search_says_when_the_index_lags_the_archive(tmp_path):
    from archive import Archive
    from indexer import sync

    data = tmp_path / "data"
    with Archive(data) as archive:
        store(archive, 1, "terindeks")
        sync(archive, data)
        store(archive, 2, "tertinggal")  # archived, not yet indexed (a crawl stopped before indexing)
    result = run_ccnews("search", "tertinggal", data_dir=data)
    assert result.returncode == 0
    assert "1 archived article(s) are not in the search index yet" in result.stderr
    assert "ccnews reindex --verify" in result.stderr


def test_the_demo_never_writes_into_the_archive_named_by_ccnews_data(tmp_path):
    real = tmp_path / "real-archive"
    result = run_ccnews("demo", cwd=tmp_path, env={"CCNEWS_DATA": str(real)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert not real.exists()
    assert (tmp_path / "ccnews-demo-data" / "archive.db").exists()
