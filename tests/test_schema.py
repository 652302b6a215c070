"""An archive made by the previous release is upgraded in place, without loss, by named migrations.

`fixtures/archives/release-ed4337e.db` was written by ccnews at commit ed4337e (the last release
before migrations were recorded): the fixture sites crawled twice (one article changed in between,
so it has an earlier version) and a collection made from a query.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3

import pytest
from helpers import FIXTURES, run_ccnews

from archive import Archive
from archive.schema import NAMES

PREVIOUS = FIXTURES / "archives" / "release-ed4337e.db"


def contents(path) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of all its rows (every column, in id order)."""
    conn = sqlite3.connect(path)
    out = {}
    for (table,) in conn.execute("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"):
        columns = [r[1] for r in conn.execute(f"pragma table_info([{table}])")]
        rows = conn.execute(f"select {', '.join(f'[{c}]' for c in columns)} from [{table}] order by rowid").fetchall()
        digest = hashlib.sha256(repr([dict(zip(columns, r, strict=True)) for r in rows]).encode()).hexdigest()
        out[table] = (len(rows), digest)
    conn.close()
    return out


@pytest.fixture
def old_archive(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(PREVIOUS, data / "archive.db")
    return data


def test_previous_release_archive_is_upgraded_without_loss(old_archive):
    before = contents(old_archive / "archive.db")
    assert before["articles"][0] == 14 and before["article_versions"][0] == 1 and before["collections"][0] == 1
    assert "_sqlite_migrations" not in before
    with Archive(old_archive) as archive:
        applied = [r["name"] for r in archive.db.query("select name from _sqlite_migrations order by id")]
        assert "settings" in archive.db["sources"].columns_dict
    assert applied == NAMES
    after = contents(old_archive / "archive.db")
    for table, (count, digest) in before.items():
        if table in ("sources", "meta"):
            continue  # a column was added to sources; the retired schema_version row left meta
        assert after[table] == (count, digest), table  # every row of every table, byte for byte
    assert after["sources"][0] == before["sources"][0]
    # Opening again applies nothing more.
    with Archive(old_archive):
        pass
    assert contents(old_archive / "archive.db") == after


def test_upgraded_archive_works_with_every_reader(old_archive):
    assert run_ccnews("reindex", data_dir=old_archive).returncode == 0
    hits = json.loads(run_ccnews("search", "Icheon", "--json", data_dir=old_archive).stdout)
    assert hits and hits[0]["copies"]  # the copy grouping made by the old release
    shown = json.loads(run_ccnews("show", str(hits[0]["id"]), "--json", data_dir=old_archive).stdout)
    assert shown["title"] == hits[0]["title"]
    coll = json.loads(run_ccnews("collection", "show", "batik", "--json", data_dir=old_archive).stdout)
    assert coll["description"] == "made by the previous release" and len(coll["articles"]) == 8
    versioned = (
        sqlite3.connect(old_archive / "archive.db").execute("select article_id from article_versions").fetchone()[0]
    )
    history = run_ccnews("show", str(versioned), "--versions", data_dir=old_archive)
    assert history.returncode == 0 and "version 1" in history.stdout.lower()


def test_reextract_keeps_timezones_of_sources_missing_from_the_registry(old_archive, tmp_path):
    before = dict(sqlite3.connect(old_archive / "archive.db").execute("select id, published from articles"))
    assert all(p.endswith(("+07:00", "+09:00")) for p in before.values() if p)
    other = tmp_path / "other.toml"  # a registry without the two sources that built the archive
    other.write_text('[[source]]\nid = "lain"\nname = "Lain"\nhomepage = "http://127.0.0.1:9/"\n', "utf-8")
    result = run_ccnews("reextract", data_dir=old_archive, registry=other)
    assert "Traceback" not in result.stderr
    assert "re-extracted" in result.stderr, result.stderr
    after = dict(sqlite3.connect(old_archive / "archive.db").execute("select id, published from articles"))
    assert after == before
    bad = run_ccnews("reextract", "--source", "nosuch", data_dir=old_archive, registry=other)
    assert bad.returncode == 2 and "no article of 'nosuch'" in bad.stderr


def test_archive_from_a_newer_ccnews_is_refused_in_one_line(old_archive):
    with Archive(old_archive) as archive:
        archive.db["_sqlite_migrations"].insert({"migration_set": "ccnews", "name": "999_from_the_future",
                                                 "applied_at": "2030-01-01"})
    result = run_ccnews("search", "batik", data_dir=old_archive)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {old_archive / 'archive.db'} was written by a newer ccnews (it has the change "
        "'999_from_the_future'): upgrade ccnews to use it"]
