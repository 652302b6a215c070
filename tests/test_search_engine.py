"""The search engine's shortcuts give the answers a plain scan would: phrases through word pairs,
newest-first through date windows, date ranges through minutes, copies collapsed after ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from helpers import run_ccnews

from archive import Archive
from indexer import Filters, rebuild, search, sync

WIB = timezone(timedelta(hours=7))


def row(i: int, text: str, published: datetime | None, title: str = "", source: str = "s1", group: int | None = None):
    return {
        "id": i, "url": f"http://127.0.0.1/read/{i}", "url_key": f"127.0.0.1/read/{i}", "source": source,
        "title": title or f"Berita {i}", "text": text, "published": published.isoformat() if published else None,
        "language": "id", "authors": "[]", "tags": "[]", "cities": "[]", "fields": "[]", "relevance": 0.0,
        "content_hash": f"h{i}", "indexed": 0, "group_id": group or i,
    }


@pytest.fixture
def archive_dir(tmp_path):
    return tmp_path


def build(data, rows, bulk=False):
    with Archive(data) as archive:
        archive.db["articles"].insert_all(rows)
        (rebuild if bulk else sync)(archive, data)


def ids(results):
    return [h.id for h in results.hits]


def test_phrases_of_two_and_more_words_match_word_for_word(archive_dir):
    day = datetime(2024, 3, 1, 9, 0, tzinfo=WIB)
    build(archive_dir, [
        row(1, "Pekalongan menjadi kota kreatif dunia tahun ini.", day),
        row(2, "Kreatif sekali warga kota ini, kata wali kota.", day),  # both words, not side by side
        row(3, "Jejaring kota kreatif UNESCO menerima Pekalongan.", day),
        # "kota kreatif" and "kreatif unesco" both occur, "kota kreatif unesco" does not
        row(4, "Sebuah kota kreatif lahir; festival kreatif UNESCO digelar.", day),
        row(5, "Kota Kreatif, sebutan yang dibanggakan.", day, title="Kota Kreatif Pekalongan"),
    ])
    assert sorted(ids(search(archive_dir, '"kota kreatif"', limit=20))) == [1, 3, 4, 5]
    assert ids(search(archive_dir, '"kota kreatif unesco"', limit=20)) == [3]
    assert ids(search(archive_dir, 'title:"kota kreatif"', limit=20)) == [5]
    # a phrase of one word and a phrase with a stop word in it
    assert sorted(ids(search(archive_dir, '"kreatif"', limit=20))) == [1, 2, 3, 4, 5]
    assert ids(search(archive_dir, '"sebutan yang dibanggakan"', limit=20)) == [5]


def test_newest_first_reaches_back_past_sparse_years_and_puts_undated_last(archive_dir):
    base = datetime(2024, 6, 1, 12, 0, tzinfo=WIB)
    rows = [row(i, "batik pesisir", base - timedelta(days=400 * i)) for i in range(1, 8)]  # one every 400 days
    rows += [row(100 + i, "tenun ikat", base - timedelta(hours=i)) for i in range(30)]  # recent, other word
    rows.append(row(200, "batik tanpa tanggal", None))
    build(archive_dir, rows)
    got = search(archive_dir, "batik", limit=8, sort="date")
    assert ids(got) == [1, 2, 3, 4, 5, 6, 7, 200]
    assert ids(search(archive_dir, "batik", limit=3, sort="date")) == [1, 2, 3]
    until = (base - timedelta(days=1000)).astimezone(UTC)
    assert ids(search(archive_dir, "batik", Filters(until=until), limit=3, sort="date")) == [3, 4, 5]


def test_date_ranges_hold_to_the_minute(archive_dir):
    t = datetime(2023, 12, 31, 23, 58, tzinfo=UTC)
    build(archive_dir, [row(i, "festival", t + timedelta(minutes=i)) for i in range(5)], bulk=True)
    got = search(
        archive_dir, "festival", Filters(since=t + timedelta(minutes=1), until=t + timedelta(minutes=3)), limit=20
    )
    assert sorted(ids(got)) == [1, 2, 3]
    assert ids(search(archive_dir, "festival", Filters(since=t + timedelta(minutes=1), until=t + timedelta(minutes=3)),
                      limit=20, sort="date")) == [3, 2, 1]


def test_copies_collapse_to_the_original_even_when_a_copy_ranks_higher(archive_dir):
    day = datetime(2024, 3, 1, 9, 0, tzinfo=WIB)
    rows = [row(1, "Delegasi Chiang Mai belajar batik di Pekalongan.", day, source="radar")]
    # the republished copy says "batik" more often, so it scores higher than its original
    rows.append(row(2, "Delegasi Chiang Mai belajar batik batik batik di Pekalongan.", day, source="pemkot", group=1))
    rows += [row(10 + i, f"batik {'motif ' * i} lain", day) for i in range(30)]
    build(archive_dir, rows)
    hits = search(archive_dir, "batik delegasi", limit=5).hits
    assert [h.id for h in hits] == [1]
    everything = search(archive_dir, "batik", limit=None)
    assert 1 in ids(everything) and 2 not in ids(everything)
    assert {1, 2} <= set(ids(search(archive_dir, "batik", limit=None, all_copies=True)))
    # a page of results is filled with other stories, never with the copy
    page = ids(search(archive_dir, "batik", limit=31))
    assert len(page) == 31 and 2 not in page and 1 in page


def test_a_page_full_of_copies_still_gives_exactly_the_page_asked_for(archive_dir):
    day = datetime(2024, 3, 1, 9, 0, tzinfo=WIB)
    rows = []
    # ten stories, each republished five times: the best-scoring hits are mostly copies
    for story in range(10):
        lead = 100 * (story + 1)
        rows.append(row(lead, f"batik cerita {story}", day, group=lead))
        rows += [row(lead + k, f"batik batik batik cerita {story}", day, group=lead) for k in range(1, 6)]
    rows += [row(2000 + i, "batik lain", day) for i in range(40)]
    build(archive_dir, rows)
    page = ids(search(archive_dir, "batik", limit=5))
    assert len(page) == 5
    assert all(i % 100 == 0 or i >= 2000 for i in page)  # originals stand for their copies
    assert len(ids(search(archive_dir, "batik", limit=45))) == 45


def test_an_index_written_in_many_small_commits_answers_like_one_built_at_once(tmp_path):
    """A crawl's indexer commits every few hundred articles, and the commits' segments are merged
    as they pile up; short posting lists are kept inline. Words, stems, names, phrases, wildcards
    and rewritten articles must find the same articles as in an index built in one go."""
    import random

    rng = random.Random(7)
    roots = ["kembang", "pamer", "rajin", "kreasi", "tenun", "ukir", "jual", "karya", "seni", "budaya"]
    affixed = {"kembang": ["pengembangan", "dikembangkan", "berkembang"], "pamer": ["pameran", "dipamerkan"],
               "rajin": ["perajin", "kerajinan"], "jual": ["penjualan", "dijual"], "karya": ["berkarya"]}
    words = [w for r in roots for w in [r, *affixed.get(r, [])]] + ["batik", "kota", "kreatif", "yang", "di"]
    places = ["Pekalongan", "Pemalang", "Kediri", "Bekasi"]
    day = datetime(2024, 1, 1, 8, 0, tzinfo=WIB)

    def text(i: int, version: int = 0) -> str:
        body = [rng.choice(words) for _ in range(rng.randint(20, 60))]
        body.insert(rng.randrange(len(body)), f"langka{i % 97}")  # rare words: postings kept inline
        body.insert(rng.randrange(len(body)), "kota kreatif")
        for place in rng.sample(places, 2):
            body.insert(rng.randrange(1, len(body)), place)
        return " ".join(body).capitalize() + (f" versi{version}" if version else "") + "."

    rows = [row(i, text(i), day + timedelta(hours=i), title=f"{rng.choice(places)} {rng.choice(words)} {i}")
            for i in range(1, 1201)]
    for r in rows[::7]:
        r["language"] = "en"  # not stemmed
    small, whole = tmp_path / "small", tmp_path / "whole"
    with Archive(small) as archive:
        for start in range(0, len(rows), 50):  # 24 commits
            archive.db["articles"].insert_all(rows[start:start + 50])
            sync(archive, small)
        segments_before_rewrite = len(list((small / "index").glob("*.pst")))
        for r in rows[100:400:3]:  # rewritten articles: the old entry goes, the new one is found
            r.update(text=text(r["id"], version=2), content_hash=f"h{r['id']}v2", indexed=0)
            archive.db["articles"].upsert(r, pk="id")
        sync(archive, small)
    build(whole, rows, bulk=True)

    assert segments_before_rewrite < 24  # the small commits' segments were merged

    def same_answers():
        for query in queries:
            found = {h.id for h in search(small, query, limit=None, all_copies=True).hits}
            assert found == {h.id for h in search(whole, query, limit=None, all_copies=True).hits}, query
            assert found, query

    queries = ["pengembangan", "kembang", "pameran", "perajin", "pekalongan", "pemalang", "kediri",
               '"kota kreatif"', '"kreatif pekalongan"', "langka5", "langka96 OR langka3", "versi2",
               "tenun AND NOT ukir", "penj*", "title:bekasi", "batik kreatif", "yang",
               '"ukir kreasi"', '"pameran dijual karya"']  # phrases checked on positions
    same_answers()
    assert len(search(small, "versi2", limit=None).hits) == 100
    assert len(search(small, "*", limit=None).hits) == 1200

    # On demand, every segment into one (the rewritten articles' old entries are dropped).
    segments = len(list((small / "index").glob("*.pst")))
    assert segments > 1
    merged = run_ccnews("reindex", "--merge", data_dir=small)
    assert merged.returncode == 0, merged.stderr
    assert merged.stderr.strip() == f"merged {segments} segment(s) into 1"
    assert len(list((small / "index").glob("*.pst"))) == 1
    same_answers()
    assert len(search(small, "*", limit=None).hits) == 1200
    again = run_ccnews("reindex", "--merge", data_dir=small)
    assert again.returncode == 0 and "nothing to merge" in again.stderr


def _zipf_rows(n: int, seed: int) -> list[dict]:
    """Articles of words drawn as news uses them: a few in nearly every article, most rare."""
    import random

    rng = random.Random(seed)
    vocab = [f"kata{i}" for i in range(500)]
    weights = [1 / (i + 1) for i in range(500)]
    day = datetime(2024, 1, 1, 8, 0, tzinfo=WIB)
    return [row(i, " ".join(rng.choices(vocab, weights, k=rng.randint(30, 300))), day + timedelta(hours=i),
                title=" ".join(rng.choices(vocab, weights, k=6)), source=rng.choice(["s1", "s2", "s3"]))
            for i in range(1, n + 1)]


@pytest.fixture(scope="module")
def zipf_archive(tmp_path_factory):
    data = tmp_path_factory.mktemp("zipf")
    build(data, _zipf_rows(4000, seed=3))
    return data


ZIPF_QUERIES = [f"kata{a} kata{b}" for a in (0, 1, 2, 4) for b in (3, 8, 20, 45, 90)] + [
    "kata0", "kata1 kata2 kata3", "kata0 OR kata60", "kata5 OR (kata1 kata9)", "title:kata7 kata0",
    '"kata0 kata1"', '"kata0 kata1 kata2" kata3', "kata1 NOT kata3", "kata2 kata1*", "kata0 ANDMAYBE kata30"]
# Phrases of a frequent and a rare word, either way round, and of three words: their positions are
# read only in the articles holding all the words, a few or many in each block.
ZIPF_PHRASES = ['"kata0 kata400"', '"kata400 kata0"', '"kata1 kata90"', '"kata90 kata1"', '"kata3 kata45 kata0"',
                '"kata0 kata1 kata2"', '"kata2 kata2"']


def test_the_first_page_holds_the_best_matches(zipf_archive):
    """A page of results is the head of the whole ranking: the best article for two words is on
    the first page, with or without a filter. (Whoosh's top-N collector, replacing its matchers as
    the page fills, left some of the best matches of two words over title and text off it.)"""
    for query in ZIPF_QUERIES:
        for filters in (None, Filters(sources=("s2",))):
            whole = ids(search(zipf_archive, query, filters, limit=None, all_copies=True, snippets=False))
            page = ids(search(zipf_archive, query, filters, limit=10, all_copies=True, snippets=False))
            assert len(whole) > 10, query
            assert page == whole[:10], (query, filters)


def test_word_queries_are_scored_as_whoosh_scores_them(zipf_archive):
    """Words are scored a posting list at a time (indexer.scoring), not through Whoosh's
    matchers (which the rest of a query still goes through): the same articles, in the same
    order, with Whoosh's BM25F scores."""
    from indexer import scoring
    from indexer.index import open_index, parse_query

    with open_index(zipf_archive).searcher() as searcher:
        for query in ZIPF_QUERIES + ZIPF_PHRASES:
            q = parse_query(query, searcher.reader())
            assert scoring.scorable(searcher)
            whoosh = sorted(((h.docnum, h.score) for h in searcher.search(q, limit=None)), key=lambda h: (-h[1], h[0]))
            assert len(whoosh) >= 5, query
            ours = scoring.top(searcher, q, None)
            assert [d for d, _ in ours] == [d for d, _ in whoosh], query
            assert all(abs(a - b) <= 1e-9 * b for (_, a), (_, b) in zip(ours, whoosh, strict=True)), query
            assert ours[:10] == scoring.top(searcher, q, 10)


def test_a_posting_lists_directory_goes_to_the_blocks_reading_every_header_finds(zipf_archive, monkeypatch):
    """A long posting list ends with a directory of its blocks, so a search for some articles (a
    narrow filter, the candidates of two words, a phrase's articles) goes straight to their blocks:
    the same hits, scores and totals as reading every block's header in turn."""
    from indexer import codec

    day = datetime(2024, 1, 1, 8, 0, tzinfo=WIB)
    narrow = [Filters(since=day + timedelta(hours=h), until=day + timedelta(hours=h + span))
              for h, span in ((0, 30), (2000, 48), (3950, 100))] + [None, Filters(sources=("s2",))]
    queries = ZIPF_QUERIES + ['"kata0 kata1 kata2 kata3"', "kata0 kata1 kata2 kata3 kata4"]

    def answers():
        for query in queries:
            for filters in narrow:
                for limit in (None, 10):
                    found = search(zipf_archive, query, filters, limit=limit, all_copies=True, snippets=False)
                    yield query, [(h.id, round(h.score, 9)) for h in found.hits], found.total

    used = []
    directory = codec._directory
    monkeypatch.setattr(codec, "_directory", lambda *args: used.append(found := directory(*args)) or found)
    with_directory = list(answers())
    assert any(used) and len([d for d in used if d]) > 100  # long lists have one, and it was read
    monkeypatch.setattr(codec, "_directory", lambda *args: None)
    assert list(answers()) == with_directory


def test_filters_and_patterns_find_the_documents_whoosh_finds(zipf_archive):
    """Terms, patterns and date ranges are read a posting block at a time for filters and counts
    (indexer.index._docset): the same documents as Whoosh's own matchers."""
    from indexer.index import _docset, _filter_query, open_index, parse_query

    day = datetime(2024, 1, 1, 8, 0, tzinfo=WIB)
    with open_index(zipf_archive).searcher() as searcher:
        restricts = [_filter_query(Filters(since=day + timedelta(hours=h), until=day + timedelta(hours=h + span)))
                     for h, span in ((0, 1), (5, 700), (1500, 3000), (3990, 50))]
        restricts += [_filter_query(Filters(sources=("s1", "s3"))),
                      _filter_query(Filters(sources=("s2",), since=day + timedelta(hours=100)))]
        words = [parse_query(text, searcher.reader()) for text in ("kata1*", "kata4?", "kata7", "kata3 OR kata99")]
        for q in restricts + words:
            expected = set(q.docs(searcher))
            assert _docset(q, searcher) == expected, q
            assert expected, q


def test_a_commit_never_merges_more_than_the_largest_merge(tmp_path, monkeypatch):
    """Commits merge segments by tiers, but never more articles at once than MAX_MERGE_DOCS: the
    20 segments of a bulk rebuild of 10^6 articles would otherwise all be merged by the next
    crawl's first commit (some twenty minutes). Here with a largest merge of 400 articles."""
    import indexer.index as ix

    rows = [row(i, f"Kabar kerajinan nomor {i} dari kota kreatif.", datetime(2024, 1, 1, tzinfo=WIB))
            for i in range(1, 601)]

    def segments_after_commits_of_50(data):
        with Archive(data) as archive:
            for start in range(0, len(rows), 50):
                archive.db["articles"].insert_all(rows[start:start + 50])
                sync(archive, data)
        return len(list((data / "index").glob("*.pst")))

    assert segments_after_commits_of_50(tmp_path / "a") < 10  # 10 segments of 50: merged
    monkeypatch.setattr(ix, "MAX_MERGE_DOCS", 400)
    assert segments_after_commits_of_50(tmp_path / "b") == 12  # 10 x 50 > 400: left as they are
    assert len(search(tmp_path / "b", "kerajinan", limit=None).hits) == 600


def test_newest_first_lists_what_whoosh_sorting_lists(zipf_archive):
    """Newest first, a query's documents are taken as sets (the narrowest part first) and sorted
    by the date column read whole, not by Whoosh's sorting collector (1.7 s for a frequent word's
    newest month at 10^6): the same documents in the same order as that collector's."""
    from whoosh import query as wq

    from indexer.index import _minute_range, _ranked, open_index, parse_query

    day = datetime(2024, 1, 1, 1, 0)  # 08:00 WIB, as the index keeps it (naive UTC)
    with open_index(zipf_archive).searcher() as searcher:
        for text in ("kata0", "kata1 kata2", "kata3 OR kata40", '"kata0 kata1"', "kata1 NOT kata3"):
            q = parse_query(text, searcher.reader())
            for extra in (None, _minute_range(day + timedelta(hours=1000), day + timedelta(hours=1700))):
                window = q if extra is None else wq.And([q, wq.ConstantScoreQuery(extra, 0.0)])
                for restrict in (None, wq.Term("source", "s2")):
                    whoosh = searcher.search(window, limit=30, sortedby="published", reverse=True, filter=restrict)
                    ours = _ranked(searcher, window, restrict, 30, "published")
                    assert [int(f["id"]) for f, _ in ours] == [int(h["id"]) for h in whoosh], (text, extra, restrict)
                    assert ours, (text, extra, restrict)


def test_an_index_written_in_whooshs_block_layout_still_answers_the_same(tmp_path, monkeypatch):
    """Posting blocks are written split (documents and weights apart from positions), so scoring
    reads no positions; an index whose segments were written in Whoosh's own layout (by an earlier
    ccnews) answers every query as before, beside new segments, and a merge rewrites it."""
    import json

    from whoosh.codec.whoosh3 import W3PostingsWriter

    from indexer import codec
    from indexer.index import INDEX_VERSION, VERSION_FILE, index_dir

    rows = _zipf_rows(900, seed=9)
    old, fresh = tmp_path / "old", tmp_path / "fresh"
    build(fresh, rows[:600])
    build(fresh, rows[600:])
    with monkeypatch.context() as patched:
        patched.setattr(codec._PostingsWriter, "_write_block", W3PostingsWriter._write_block)
        build(old, rows[:600])
    tags = {p.read_bytes()[:4] for p in index_dir(old).glob("*.pst")}
    assert tags == {b"W3Bl"}  # Whoosh's layout, as an index of an earlier version holds it
    marked = index_dir(old) / VERSION_FILE
    marked.write_text(json.dumps({**json.loads(marked.read_text()), "version": 10}))  # as version 10 wrote it
    build(old, rows[600:])  # a new segment beside them, split
    tags = [p.read_bytes()[:4] for p in index_dir(old).glob("*.pst")]
    assert b"W3Bl" in tags and codec.SPLIT_MAGIC in tags
    # An earlier ccnews now asks for a rebuild rather than failing on a split block.
    assert json.loads(marked.read_text())["version"] == INDEX_VERSION > 10

    queries = [q for q in ZIPF_QUERIES if "kata" in q] + ['"kata0 kata1 kata2"', "kata3*"]

    def same_answers():
        for query in queries:
            for limit in (None, 10):
                expected = search(fresh, query, limit=limit, all_copies=True, snippets=False)
                found = search(old, query, limit=limit, all_copies=True, snippets=False)
                assert [(h.id, round(h.score, 9)) for h in found.hits] == \
                    [(h.id, round(h.score, 9)) for h in expected.hits], query
                assert found.total == expected.total, query

    same_answers()
    for data in (old, fresh):  # a merge sums lengths as Whoosh stores them (rounded): both alike
        merged = run_ccnews("reindex", "--merge", data_dir=data)
        assert merged.returncode == 0, merged.stderr
        assert [p.read_bytes()[:4] for p in index_dir(data).glob("*.pst")] == [codec.SPLIT_MAGIC]
    same_answers()


def test_a_merge_writes_every_posting_as_whooshs_own_merge_does(tmp_path, monkeypatch):
    """A merge streams the segments' terms side by side and copies their full blocks without
    decoding positions, where Whoosh sorted every posting again. One commit that adds articles and
    merges every segment (one with deletions) must write exactly the postings and
    term statistics Whoosh's own merge writes, and answer every query with the same scores."""
    import shutil

    from whoosh.reading import SegmentReader

    from indexer import codec, index
    from indexer.index import open_index

    rows = _zipf_rows(2600, seed=5)
    rewritten = rows[10:300:7]
    for r in rewritten:
        r["text"] += " usang"  # a word only their first versions hold
    streamed, whooshs = tmp_path / "streamed", tmp_path / "whoosh"
    for part in (rows[:900], rows[900:1600], rows[1600:2200]):
        build(streamed, part)
    with Archive(streamed) as archive:  # rewritten articles: the first segment now has deletions
        for r in rewritten:
            text = r["text"].removesuffix(" usang") + " ditulis ulang"
            archive.db["articles"].update(r["id"], {"text": text, "content_hash": "v2", "indexed": 0})
        sync(archive, streamed)
    assert len(search(streamed, "usang", limit=None).hits) == 0 < len(rewritten)
    assert len(list((streamed / "index").glob("*.pst"))) == 4
    shutil.copytree(streamed, whooshs)

    copied = []
    monkeypatch.setattr(index, "_merge_tiers", index._merge_all)  # the next commit merges everything
    with monkeypatch.context() as patched:
        copy_block = codec._PostingsWriter.copy_block
        patched.setattr(codec._PostingsWriter, "copy_block", lambda self, m, moved: (
            copied.append(moved if isinstance(moved, int) else "renumbered"), copy_block(self, m, moved)))
        build(streamed, rows[2200:])
    with monkeypatch.context() as patched:  # Whoosh's merge: every posting through its pool
        def whooshs_merge(writer, segment):
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        patched.setattr(codec.SegmentWriter, "merge_segment", whooshs_merge)
        build(whooshs, rows[2200:])
    # Full blocks were copied: moved from the two large segments without deletions (42 rewritten
    # articles fill none), renumbered from the one with deletions.
    assert "renumbered" in copied and len(set(copied)) == 3

    def postings(data):
        (segment, _), = open_index(data).reader().leaf_readers()
        terms, schema = segment._terms, segment.schema
        for (fieldname, btext), info in terms.items():
            stats = (info.doc_frequency(), round(info.weight(), 3), info.min_length(), info.max_length(),
                     info.max_weight(), info.min_id(), info.max_id())
            listed = [posting for ids_, weights, values in codec.blocks(terms, info, schema[fieldname].format)
                      for posting in zip(ids_, weights, values)]
            yield fieldname, btext, stats, listed

    count = 0
    for ours, theirs in zip(postings(streamed), postings(whooshs), strict=True):
        assert ours == theirs, ours[:3]
        count += 1
    assert count > 5000
    for query in ZIPF_QUERIES + ["ditulis", "kata3*"]:
        expected = search(whooshs, query, limit=None, all_copies=True, snippets=False)
        found = search(streamed, query, limit=None, all_copies=True, snippets=False)
        assert [(h.id, round(h.score, 9)) for h in found.hits] == [(h.id, round(h.score, 9)) for h in expected.hits]
        assert found.hits, query
