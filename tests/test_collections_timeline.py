"""Collections and timelines over the crawled fixture archive."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from click.testing import CliRunner
from helpers import P102, P107, articles, by_path

from ccnews.cli import cli


@pytest.fixture
def data(crawled, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(crawled["data"], target)
    return target


def run(data, *args):
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(data)], catch_exceptions=False)
    return result


def test_collection_from_query_holds_its_matches(data):
    r = run(data, "collection", "create", "pk-batik", "--query", "batik", "--city", "Pekalongan",
            "--description", "Batik in Pekalongan")
    assert r.exit_code == 0 and "created with" in r.stderr
    shown = json.loads(run(data, "collection", "show", "pk-batik", "--json").stdout)
    urls = {a["url"] for a in shown["articles"]}
    assert any(u.endswith(P102) for u in urls) and any(u.endswith(P107) for u in urls)
    assert shown["query"] == "batik" and shown["filters"] == {"cities": ["Pekalongan"]}
    assert shown["description"] == "Batik in Pekalongan"


def test_removed_article_stays_out_after_refresh_and_manual_add_brings_it_back(data):
    run(data, "collection", "create", "c", "--query", "batik")
    target = by_path(articles(data), P102)
    assert run(data, "collection", "remove", "c", str(target["id"])).exit_code == 0
    run(data, "collection", "refresh", "c")
    ids = [a["id"] for a in json.loads(run(data, "collection", "show", "c", "--json").stdout)["articles"]]
    assert target["id"] not in ids
    assert run(data, "collection", "add", "c", target["url"]).exit_code == 0
    ids = [a["id"] for a in json.loads(run(data, "collection", "show", "c", "--json").stdout)["articles"]]
    assert target["id"] in ids


def test_refresh_adds_new_matches(data):
    import sqlite_utils

    run(data, "collection", "create", "c", "--query", "Icheon")
    before = len(json.loads(run(data, "collection", "show", "c", "--json").stdout)["articles"])
    db = sqlite_utils.Database(data / "archive.db")
    db.execute("delete from collection_articles where article_id = (select min(article_id) from collection_articles)")
    db.conn.commit()
    r = run(data, "collection", "refresh", "c")
    assert "1 new article" in r.stderr
    assert len(json.loads(run(data, "collection", "show", "c", "--json").stdout)["articles"]) == before


def test_collection_export_and_list(data, tmp_path):
    run(data, "collection", "create", "c", "--query", "Icheon")
    out = tmp_path / "c.csv"
    assert run(data, "collection", "export", "c", "--format", "csv", "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 2 and {r["source"] for r in rows} == {"warta-uji", "kota-uji"}
    listed = json.loads(run(data, "collection", "list", "--json").stdout)
    assert listed == [
        {"name": "c", "description": None, "query": "Icheon", "updated": listed[0]["updated"], "articles": 2}
    ]


def test_collections_are_plain_tables(data):
    import sqlite_utils

    run(data, "collection", "create", "c", "--query", "Icheon")
    db = sqlite_utils.Database(data / "archive.db")
    rows = list(db.query("select c.name, count(*) n from collections c join collection_articles ca "
                         "on ca.collection_id = c.id group by c.name"))
    assert rows == [{"name": "c", "n": 2}]


def test_collection_errors_are_one_line(data):
    r = run(data, "collection", "show", "nope")
    assert r.exit_code == 1 and "no collection named 'nope'" in r.stderr
    run(data, "collection", "create", "c")
    r = run(data, "collection", "create", "c")
    assert r.exit_code == 1 and "exists already" in r.stderr
    r = run(data, "collection", "add", "c", "http://127.0.0.1:1/not-archived")
    assert r.exit_code == 1 and "no archived article" in r.stderr


def test_timeline_counts_per_year_with_csv(data, tmp_path):
    out = tmp_path / "t.csv"
    r = run(data, "timeline", "Icheon", "--by", "year", "--csv", str(out))
    assert r.exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows == [{"period": "2016", "articles": "2"}]
    assert "2016" in r.stdout and "█" in r.stdout


def test_timeline_counts_a_story_once_with_stories(data, tmp_path):
    out = tmp_path / "t.csv"
    run(data, "timeline", "Icheon", "--by", "year", "--stories", "--csv", str(out))
    assert list(csv.DictReader(out.open(encoding="utf-8"))) == [{"period": "2016", "articles": "1"}]


def test_timeline_fills_quiet_months_and_splits_sources(data, tmp_path):
    out = tmp_path / "t.csv"
    run(data, "timeline", "batik", "--by", "month", "--by-source", "--since", "2024-06-01", "--csv", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    months = sorted({r["period"] for r in rows})
    assert months == ["2024-06", "2024-07", "2024-08", "2024-09", "2024-10", "2024-11", "2024-12"]
    oct_ = {r["source"]: int(r["articles"]) for r in rows if r["period"] == "2024-10"}
    assert oct_ == {"warta-uji": 1, "kota-uji": 1}


def test_timeline_splits_cities_counting_an_article_in_each_city_it_names(data, tmp_path):
    out = tmp_path / "t.csv"
    run(data, "timeline", "Icheon", "--by", "year", "--by-city", "--csv", str(out))
    rows = {r["city"]: int(r["articles"]) for r in csv.DictReader(out.open(encoding="utf-8"))}
    # The founding article and its copy name Pekalongan, Chiang Mai and the five mentor cities.
    assert rows["Pekalongan"] == rows["Chiang Mai"] == rows["Icheon"] == 2 and len(rows) >= 5
    assert run(data, "timeline", "batik", "--by-city", "--by-source").exit_code == 2


def test_timeline_week_starts_on_monday(data, tmp_path):
    out = tmp_path / "t.csv"
    run(data, "timeline", "Icheon", "--by", "week", "--stories", "--csv", str(out))
    # Friday 11 March 2016 is in the week of Monday 7 March 2016.
    assert list(csv.DictReader(out.open(encoding="utf-8"))) == [{"period": "2016-03-07", "articles": "1"}]


def test_timeline_png_is_a_real_image(data, tmp_path):
    png = tmp_path / "t.png"
    r = run(data, "timeline", "kota", "--by", "year", "--png", str(png))
    assert r.exit_code == 0
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert width >= 800 and height >= 400


def test_day_by_day_timeline_over_years_is_readable(data, tmp_path):
    r = run(data, "timeline", "*", "--by", "day", "--city", "Pekalongan", "--since", "2012-01-01")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    # About 13 years of days: runs of empty days are one line each, not thousands of zeros.
    assert len(lines) < 60, len(lines)
    assert any("days with none" in line for line in lines)
    counted = sum(int(line.split()[-1]) for line in lines[1:] if "█" in line)
    run(data, "timeline", "*", "--by", "day", "--city", "Pekalongan", "--since", "2012-01-01",
        "--csv", str(tmp_path / "d.csv"))
    days = list(csv.DictReader((tmp_path / "d.csv").open(encoding="utf-8")))
    assert len(days) > 3000  # the CSV keeps every day, for programs
    assert counted == sum(int(row["articles"]) for row in days) > 0


def test_timeline_title_names_its_filters(data):
    r = run(data, "timeline", "batik", "--city", "Pekalongan", "--source", "warta-uji", "--since", "2024-01-01",
            "--relevant")
    title = r.stdout.splitlines()[0]
    assert title == ('Articles matching "batik" from warta-uji mentioning Pekalongan about creative-city work '
                     "from 2024-01-01 to today, per month")
