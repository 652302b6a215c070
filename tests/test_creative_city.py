"""Finding the creative-city story: tags, language-aware search, copies, on the crawled fixtures."""

from __future__ import annotations

import json
import shutil

import pytest
import sqlite_utils
from click.testing import CliRunner
from helpers import (
    CITY_BATIK,
    CITY_CRAFT_COPY,
    FAST,
    P101,
    P102,
    P107,
    P110,
    P120,
    P121,
    Sites,
    articles,
    by_path,
    run_ccnews,
)

from ccnews.cli import cli


@pytest.fixture
def ccnews(crawled):
    def run(*args):
        return CliRunner().invoke(cli, [*args, "--data-dir", str(crawled["data"])], catch_exceptions=False)

    return run


def found(ccnews, *args):
    result = ccnews("search", *args, "--json", "--limit", "50")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def paths(hits):
    return sorted(h["url"].split("/", 3)[3] for h in hits)


def p(path):
    return path.lstrip("/")


# -- tagging ---------------------------------------------------------------------------------


def test_tagging_precision_and_recall_on_the_labelled_set():
    from bench.tagging import measure

    m = measure()
    assert m["articles"] >= 280
    assert m["city_precision"] >= 0.97 and m["city_recall"] >= 0.97
    assert m["relevance_precision"] >= 0.9 and m["relevance_recall"] >= 0.9


def test_tagging_on_the_held_out_set_no_rule_was_written_from():
    """The figures to expect on new text (measured 2026-12-02: cities 0.83 precision, 0.92 recall;
    relevance 1.00 and 0.92): lower than on the development set, as they should be. Floors a
    little under them, so a change that makes tagging worse on unseen text fails here."""
    from bench.tagging import HELDOUT, measure

    m = measure(labels=HELDOUT)
    assert m["articles"] == 30 and m["city_pairs"] == 26 and m["relevant_articles"] == 12
    assert m["city_precision"] >= 0.78 and m["city_recall"] >= 0.88
    assert m["relevance_precision"] >= 0.9 and m["relevance_recall"] >= 0.83


def _name_soup():
    """Texts of city names and network terms in any case, glued or split by what borders a word."""
    from hypothesis import strategies as st

    from crawler import tagging

    m = tagging._matcher()
    words = st.sampled_from(m.names._names + m.terms._names)
    pieces = st.one_of(words, words.map(str.upper), words.map(str.lower), words.map(lambda w: w[:-1]),
                       st.sampled_from([" ", "-", "\n", "'s ", ".", "Kota ", "di", "x", "İ", "ı", "ſ", "\u212a"]),
                       st.text(max_size=3))
    return st.lists(pieces, max_size=24).map("".join)


def test_names_are_found_exactly_where_one_pattern_of_every_name_finds_them():
    """Tagging tries at each word start only the names that begin with its letter: it must find
    the very names, at the very places, that one pattern of every name finds (3.6 of the 4.7 ms
    an article's tags took went to that one pattern)."""
    from hypothesis import given, settings

    from crawler import tagging

    m = tagging._matcher()
    whole = {"names": tagging._words(m.names._names), "terms": tagging._words(m.terms._names)}

    @settings(max_examples=400, deadline=None)
    @given(text=_name_soup())
    def same(text):
        for kind, pattern in whole.items():
            expected = [(f.span(), f.group(1)) for f in pattern.finditer(text)]
            assert [(f.span(), f.group(1)) for f in getattr(m, kind).finditer(text)] == expected, kind

    same()
    assert [f.group(1) for f in m.names.finditer("di Pekalongan. Pekalongan-Batang, KOTA MALANG, Chiang Mai's")] == [
        "Pekalongan", "KOTA MALANG", "Chiang Mai"]


def test_founding_article_is_tagged_with_its_cities_field_and_relevance(crawled):
    row = by_path(articles(crawled["data"]), P101)
    assert {"Pekalongan", "Chiang Mai"} <= set(json.loads(row["cities"]))
    assert json.loads(row["fields"])[0] == "Crafts and Folk Art"
    assert row["relevance"] >= 0.5


def test_fruit_bat_story_is_neither_pekalongan_nor_relevant(crawled):
    row = by_path(articles(crawled["data"]), P120)
    assert json.loads(row["cities"]) == [] and row["relevance"] < 0.5


def test_tags_are_queryable_in_sql(crawled):
    db = sqlite_utils.Database(crawled["data"] / "archive.db")
    ids = {
        r["article_id"] for r in db.query("select article_id from article_tags where kind='city' and value='Bandung'")
    }
    assert ids == {by_path(articles(crawled["data"]), "/read/103/bandung-pekan-desain-kota")["id"]}


def test_city_field_and_relevant_filters(ccnews):
    assert p(P110) in paths(found(ccnews, "*", "--city", "Chiang Mai", "--all-copies"))
    assert paths(found(ccnews, "*", "--field", "design")) == ["read/103/bandung-pekan-desain-kota"]
    relevant = paths(found(ccnews, "*", "--relevant"))
    assert p(P101) in relevant and p(P120) not in relevant
    assert paths(found(ccnews, "city:bandung")) == ["read/103/bandung-pekan-desain-kota"]


def test_thai_alias_finds_the_city(ccnews):
    # --city accepts local names: เชียงใหม่ is Chiang Mai.
    assert p(P110) in paths(found(ccnews, "*", "--city", "เชียงใหม่", "--all-copies"))


def test_unknown_city_or_field_is_one_line(ccnews):
    r = ccnews("search", "batik", "--city", "Atlantis")
    assert r.exit_code == 2 and "not a member city" in r.stderr
    r = ccnews("search", "batik", "--field", "juggling")
    assert r.exit_code == 2 and "not a creative field" in r.stderr


def test_export_carries_tags_and_group(ccnews):
    rows = json.loads(ccnews("export", "--city", "Pekalongan", "--relevant", "--format", "json", "--no-text").stdout)
    assert rows and all("Pekalongan" in r["cities"] and r["relevance"] >= 0.5 for r in rows)
    assert {"fields", "group_id"} <= set(rows[0])


def test_retag_restores_tags(crawled, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(crawled["data"], data)
    db = sqlite_utils.Database(data / "archive.db")
    db.execute("update articles set cities = '[]', relevance = 0")
    db.execute("delete from article_tags")
    db.conn.commit()
    result = CliRunner().invoke(cli, ["retag", "--data-dir", str(data)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Pekalongan" in by_path(articles(data), P101)["cities"]
    hits = json.loads(
        CliRunner().invoke(cli, ["search", "*", "--city", "Bandung", "--json", "--data-dir", str(data)]).stdout
    )
    assert len(hits) == 1


@pytest.mark.slow  # two crawls of its own
def test_keep_relevant_archives_only_relevant_and_never_refetches_the_rest(tmp_path):
    sites = Sites(tmp_path / "sites").start()
    try:
        text = sites.registry.read_text("utf-8").replace('id = "warta-uji"', 'id = "warta-uji"\nkeep = "relevant"')
        sites.registry.write_text(text, "utf-8")
        data = tmp_path / "data"
        for _ in range(2):
            r = run_ccnews("crawl", "warta-uji", *FAST, data_dir=data, registry=sites.registry)
            assert r.returncode == 0, r.stderr[-2000:]
        rows = articles(data)
        assert not [a for a in rows if "/read/120/" in a["url"]]
        assert all(a["relevance"] >= 0.5 for a in rows)
        assert by_path(rows, P101)
        assert sites.outlet.hits(P120) == 1  # judged once, remembered, not fetched again
        db = sqlite_utils.Database(data / "archive.db")
        assert [r["reason"] for r in db.query("select reason from skipped_urls where url like '%/read/120/%'")] == [
            "not_relevant"
        ]
        run = next(db.query("select skipped from crawl_runs order by id desc limit 1"))
        assert json.loads(run["skipped"]).get("already_skipped", 0) >= 1
    finally:
        sites.stop()


# -- language-aware search -------------------------------------------------------------------


@pytest.mark.parametrize("query", ["kembang", "pengembangan", "dikembangkan", "KEMBANG"])
def test_indonesian_forms_find_each_other(ccnews, query):
    assert p(P121) in paths(found(ccnews, query))


def test_kreatif_finds_kreatifnya(ccnews):
    assert p(P121) in paths(found(ccnews, "kreatif", "--all-copies"))


def test_place_name_is_not_cut_to_a_root(ccnews):
    # Sastrawi would make "Pekalongan" "kalong" (a fruit bat) and "Pemalang" "malang".
    assert p(P120) not in paths(found(ccnews, "Pekalongan", "--all-copies"))
    assert paths(found(ccnews, "kalong")) == [p(P120)]
    assert paths(found(ccnews, "pemalang")) == [p(P121)]


def test_proper_noun_search_precision_on_colliding_place_names():
    from bench.names import measure

    m = measure()
    assert m["places_with_collisions"] >= 8
    assert m["precision_ccnews"] == 1.0


@pytest.mark.parametrize("query", ["เชียงใหม่", "เมืองสร้างสรรค์", "หัตถกรรม", "ผ้าทอ"])
def test_thai_words_are_found_inside_unspaced_text(ccnews, query):
    assert p(P110) in paths(found(ccnews, query))


def test_phrases_match_word_for_word(ccnews):
    assert paths(found(ccnews, '"motif batik baru dikembangkan"')) == [p(P121)]
    assert found(ccnews, '"motif batik baru kembang"') == []


def test_stop_words_do_not_block_a_search(ccnews):
    assert p(P121) in paths(found(ccnews, "motif dan batik"))


def test_mixed_language_archive_answers_one_query(ccnews):
    # "batik" is in Indonesian, English and (as a loanword) Thai-site articles; one query finds them all.
    langs = {h["language"] for h in found(ccnews, "batik", "--all-copies")}
    assert {"id", "en"} <= langs


def test_misspelled_word_gets_a_suggestion(ccnews):
    result = ccnews("search", "pekalongn")
    assert "did you mean" in result.stderr and "pekalongan" in result.stderr


# -- syndicated copies -----------------------------------------------------------------------


def test_republished_copy_is_grouped_with_its_original(crawled):
    rows = articles(crawled["data"])
    original = by_path(rows, P101)
    copy = by_path(rows, "/berita/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik")
    assert copy["group_id"] == original["group_id"] == original["id"]


def test_lightly_edited_copy_is_grouped(crawled):
    rows = articles(crawled["data"])
    assert by_path(rows, CITY_CRAFT_COPY)["group_id"] == by_path(rows, P107)["id"]


def test_own_reports_of_one_event_are_not_merged(crawled):
    rows = articles(crawled["data"])
    assert by_path(rows, CITY_BATIK)["group_id"] != by_path(rows, P102)["group_id"]


def test_search_shows_one_result_per_story_with_copies_listed(ccnews):
    hits = found(ccnews, "Icheon")
    assert len(hits) == 1
    assert hits[0]["source"] == "warta-uji"
    assert [c["source"] for c in hits[0]["copies"]] == ["kota-uji"]
    assert len(found(ccnews, "Icheon", "--all-copies")) == 2


def test_copy_detection_measured_on_pairs_and_real_pages():
    from bench.copies import measure

    m = measure()
    assert m["copies_found"] == m["copies"]
    assert m["distinct_merged"] == 0
    # The real pages were compared (the corpus is there: CI fails rather than skip without it).
    assert m["corpus_articles"] >= 250 and m["corpus_pairs"] >= 30_000
    assert m["corpus_false_merges"] == 0
