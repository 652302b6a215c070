"""WARC in and out: what ccnews archived exports as WARC/1.1 and imports back unchanged; foreign
WARC files import through the same extraction, with damage and odd records counted, never fatal."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
from helpers import articles, run_ccnews
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


FIELDS = ("url", "title", "text", "published", "source")


def same_fields(rows):
    return sorted(tuple(r[k] for k in FIELDS) for r in rows)


def test_an_exported_warc_imports_into_an_empty_archive_as_the_same_articles(crawled, sites, tmp_path):
    out = tmp_path / "all.warc.gz"
    result = run_ccnews("export", "--format", "warc", "-o", str(out), data_dir=crawled["data"])
    assert result.returncode == 0, result.stderr
    original = articles(crawled["data"])
    assert f"exported {len(original)} article(s)" in result.stderr
    fresh = tmp_path / "fresh"
    result = run_ccnews("import", str(out), data_dir=fresh, registry=sites.registry)
    assert result.returncode == 0, result.stderr
    imported = articles(fresh)
    assert same_fields(imported) == same_fields(original)
    assert {r["origin"] for r in imported} == {"web-archive"}
    # Searchable at once, like a crawl's articles.
    found = run_ccnews("search", "pekalongan", "--json", data_dir=fresh)
    assert found.returncode == 0 and json.loads(found.stdout)
    # A second import of the same file adds nothing.
    again = run_ccnews("import", str(out), data_dir=fresh, registry=sites.registry)
    assert "1 file(s) were imported before" in again.stderr
    assert len(articles(fresh)) == len(imported)


def test_exported_records_carry_headers_capture_time_and_metadata(crawled, tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    out = tmp_path / "one.warc.gz"
    run_ccnews("export", "--format", "warc", "--source", "warta-uji", "-o", str(out), data_dir=crawled["data"])
    with open(out, "rb") as fh:
        records = list(
            (r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read()) for r in ArchiveIterator(fh)
        )
    assert records[0][0] == "warcinfo"
    assert all(h.protocol == "WARC/1.1" for _t, h, _hh, _b in records)
    responses = [r for r in records if r[0] == "response"]
    metadata = [json.loads(r[3]) for r in records if r[0] == "metadata"]
    assert responses and len(metadata) == len({m["url"] for m in metadata})
    _t, rec_headers, http, body = responses[0]
    assert http.get_statuscode() == "200" and "html" in http.get_header("Content-Type")
    assert datetime.fromisoformat(rec_headers.get_header("WARC-Date").replace("Z", "+00:00")).year >= 2026
    assert b"<html" in body.lower()
    assert {"title", "published", "authors", "text"} <= set(metadata[0])


def response(writer, url, html, status="200 OK", ctype="text/html; charset=utf-8", date="2016-03-11T09:00:00Z"):
    body = html.encode("utf-8") if isinstance(html, str) else html
    http = StatusAndHeaders(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
    return writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                                     warc_headers_dict={"WARC-Date": date})


def page(title, n):
    body = " ".join(f"Kalimat nomor {i} tentang batik {title} dan kota kreatif Pekalongan yang terus berkembang."
                    for i in range(12))
    return (f"<html><head><title>{title}</title><meta property='article:published_time' "
            f"content='2016-03-{n:02d}T08:00:00+07:00'></head><body><article><h1>{title}</h1><p>{body}</p>"
            "</article></body></html>")


REGISTRY = """\
[[source]]
id = "radar"
name = "Radar"
homepage = "http://127.0.0.1:1/"
language = "id"
timezone = "Asia/Jakarta"
article_pattern = "/read/\\\\d+/"
former_domains = ["radar-lama.test"]
former_article_pattern = "/\\\\d{{4,}}/[a-z0-9-]+/?$"
"""


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(REGISTRY.format(), "utf-8")
    return path


def build_warc(path, damage_member: int | None = None):
    """Records of the old domain and odd ones; with `damage_member`, that gzip member's compressed
    bytes are overwritten in the middle."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    starts = []

    def add(record):
        starts.append(buf.tell())
        writer.write_record(record)

    add(writer.create_warcinfo_record("t.warc.gz", {"software": "test"}))
    for n in range(1, 7):
        add(response(writer, f"http://radar-lama.test/{24000 + n}/kabar-batik-{n}/", page(f"Kabar Batik {n}", n)))
    add(response(writer, "http://radar-lama.test/24100/hilang/", "<html>gone</html>", status="404 Not Found"))
    add(response(writer, "http://radar-lama.test/24101/foto.jpg", b"\xff\xd8\xff", ctype="image/jpeg"))
    add(response(writer, "http://radar-lama.test/kategori/berita/", page("Indeks", 1)))
    add(response(writer, "http://elsewhere.test/24102/lain/", page("Lain", 2)))
    revisit = writer.create_warc_record("http://radar-lama.test/24001/kabar-batik-1/", "revisit",
                                        warc_headers_dict={"WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"})
    add(revisit)
    data = bytearray(buf.getvalue())
    if damage_member is not None:
        a, b = starts[damage_member], starts[damage_member + 1]
        mid = (a + b) // 2
        data[mid : mid + 40] = b"\x00" * 40
    path.write_bytes(bytes(data))
    return path


def test_a_foreign_warc_imports_old_domain_articles_and_counts_what_it_skips(registry, tmp_path):
    warc = build_warc(tmp_path / "old.warc.gz")
    result = run_ccnews("import", str(warc), data_dir=tmp_path / "data", registry=registry)
    assert result.returncode == 0, result.stderr
    rows = articles(tmp_path / "data")
    assert sorted(r["title"] for r in rows) == [f"Kabar Batik {n}" for n in range(1, 7)]
    assert {r["source"] for r in rows} == {"radar"}
    assert all(r["published"].startswith("2016-03-") and r["date_source"] == "page" for r in rows)
    summary = result.stderr.strip().splitlines()[-1]
    for reason in ("not_200 1", "not_html 1", "pattern_mismatch 1", "out_of_registry 1", "revisit 1"):
        assert reason in summary, summary


def test_a_corrupt_gzip_member_in_the_middle_costs_only_that_record(registry, tmp_path):
    warc = build_warc(tmp_path / "damaged.warc.gz", damage_member=3)  # the third article
    result = run_ccnews("import", str(warc), data_dir=tmp_path / "data", registry=registry)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    titles = sorted(r["title"] for r in articles(tmp_path / "data"))
    assert titles == [f"Kabar Batik {n}" for n in (1, 2, 4, 5, 6)]
    assert "damaged.warc.gz: damaged at byte" in result.stderr
    assert "1 damaged stretch(es) skipped" in result.stderr


def test_an_interrupted_import_goes_on_where_it_stopped(registry, tmp_path):
    from archive import Archive
    from crawler.registry import load_registry
    from crawler.webarchive import import_files

    warc = build_warc(tmp_path / "old.warc.gz")
    data = tmp_path / "data"

    class Stop(Exception):
        pass

    seen = []

    def stop_after_three(counts):
        seen.append(counts["records"])
        if counts["new"] >= 3:
            raise Stop

    with Archive(data) as archive:
        with pytest.raises(Stop):
            import_files(archive, load_registry(registry), [warc], processes=0,
                         progress=stop_after_three, progress_every=1)
        first = archive.db["articles"].count
        assert 3 <= first < 6
        counts = import_files(archive, load_registry(registry), [warc], processes=0)
        assert archive.db["articles"].count == 6
    # The second run read only what the first had not committed.
    assert counts["new"] == 6 - first and counts["unchanged"] == 0


def test_the_bundled_radar_pekalongan_entry_claims_its_2016_wordpress_urls():
    from crawler.registry import load_registry
    from crawler.webarchive import SourceMap

    registry = load_registry()
    smap = SourceMap(registry)
    radar = registry["radar-pekalongan"]
    # A real 2016 article URL of the outlet's former WordPress domain (../shared/sources).
    old = "http://www.radarpekalongan.com/24530/mengintip-keseruan-bocah-pemburu-telolet-klakson"
    assert smap.source_for(old) is radar and smap.accepts(radar, old)
    assert not smap.accepts(radar, "http://radarpekalongan.com/category/pekalongan/")
    assert smap.accepts(radar, "https://radarpekalongan.disway.id/read/101/kejar-kota-kreatif")


def test_a_wacz_package_imports_its_warc_files(registry, tmp_path):
    import zipfile

    warc = build_warc(tmp_path / "data.warc.gz")
    wacz = tmp_path / "radar.wacz"
    with zipfile.ZipFile(wacz, "w") as z:
        z.writestr("datapackage.json", json.dumps({"profile": "data-package", "resources": []}))
        z.write(warc, "archive/data.warc.gz")
        z.writestr("pages/pages.jsonl", "")
    result = run_ccnews("import", str(wacz), data_dir=tmp_path / "data", registry=registry)
    assert result.returncode == 0, result.stderr
    assert sorted(r["title"] for r in articles(tmp_path / "data")) == [f"Kabar Batik {n}" for n in range(1, 7)]
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "data" / "archive.db")
    assert {r["archive"] for r in db.query("select archive from raw_pages")} == {"radar.wacz/archive/data.warc.gz"}


def test_an_uncompressed_warc_imports_too(registry, tmp_path):
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    for n in range(1, 4):
        writer.write_record(response(writer, f"http://radar-lama.test/{24000 + n}/kabar-batik-{n}/",
                                     page(f"Kabar Batik {n}", n)))
    (tmp_path / "plain.warc").write_bytes(buf.getvalue())
    result = run_ccnews("import", str(tmp_path / "plain.warc"), data_dir=tmp_path / "data", registry=registry)
    assert result.returncode == 0, result.stderr
    assert sorted(r["title"] for r in articles(tmp_path / "data")) == [f"Kabar Batik {n}" for n in range(1, 4)]
