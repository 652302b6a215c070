"""Every outlet with extraction hints or a hook: its stored page gives its expected fields.

Adding an outlet's test is adding files under tests/outlets/<id>/: `page.html` (as served),
`expected.json` (url, title, published, authors, and body_starts / body_ends / not_in_body), and
`source.toml` when the outlet is not in the bundled registry. No test code (fundus does the same
with its publishers' stored pages)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from crawler.extract import Page, extract_article
from crawler.registry import load_registry

OUTLETS = Path(__file__).parent / "outlets"
CASES = sorted(p.name for p in OUTLETS.iterdir() if (p / "expected.json").exists())


def source_of(outlet: str):
    own = OUTLETS / outlet / "source.toml"
    registry = load_registry(own) if own.exists() else load_registry()
    return registry[outlet]


@pytest.mark.parametrize("outlet", CASES)
def test_the_stored_page_gives_the_expected_fields(outlet):
    src = source_of(outlet)
    expected = json.loads((OUTLETS / outlet / "expected.json").read_text("utf-8"))
    html = (OUTLETS / outlet / "page.html").read_text("utf-8")
    record = extract_article([Page(expected["url"], html)], timezone=src.timezone, language=src.language,
                             hints=src.extract or None, source_id=src.id)
    for key in ("title", "published", "authors"):
        if key in expected:
            assert record[key] == expected[key], key
    text = record["text"]
    assert text.startswith(expected.get("body_starts", "")), text[:200]
    assert text.endswith(expected.get("body_ends", "")), text[-200:]
    for fragment in expected.get("not_in_body", []):
        assert fragment not in text, fragment


def test_without_its_hints_the_same_page_comes_out_worse():
    # The hints do work the generic path cannot: the date (the modification date and a sidebar
    # date are on the page), the title (the <title> is the site's name) and the boilerplate lines.
    src = source_of("contoh-pemkot")
    expected = json.loads((OUTLETS / "contoh-pemkot" / "expected.json").read_text("utf-8"))
    html = (OUTLETS / "contoh-pemkot" / "page.html").read_text("utf-8")
    plain = extract_article([Page(expected["url"], html)], timezone=src.timezone, language=src.language)
    assert plain["published"] != expected["published"] or plain["title"] != expected["title"] or \
        any(f in plain["text"] for f in expected["not_in_body"])


def test_an_outlet_hook_post_processes_the_record(tmp_path, monkeypatch, request):
    import crawler.outlets

    (tmp_path / "contoh_pemkot.py").write_text(
        "def postprocess(record, html):\n"
        "    record['title'] = record['title'].upper()\n"
        "    record['tags'] = record['tags'] + ['hooked']\n"
        "    return record\n", "utf-8")
    monkeypatch.setattr(crawler.outlets, "__path__", [*crawler.outlets.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "crawler.outlets.contoh_pemkot", raising=False)
    from crawler import outlet_hints

    # Hooks are looked up once per source: forget the lookups made before and after this hook
    # existed, and the imported hook module itself, or a later test would still run it.
    outlet_hints.hook.cache_clear()

    def forget() -> None:
        sys.modules.pop("crawler.outlets.contoh_pemkot", None)
        outlet_hints.hook.cache_clear()

    request.addfinalizer(forget)
    src = source_of("contoh-pemkot")
    expected = json.loads((OUTLETS / "contoh-pemkot" / "expected.json").read_text("utf-8"))
    record = extract_article([Page(expected["url"], (OUTLETS / "contoh-pemkot" / "page.html").read_text("utf-8"))],
                             timezone=src.timezone, hints=src.extract, source_id=src.id)
    assert record["title"] == expected["title"].upper() and "hooked" in record["tags"]


def test_bad_hints_are_refused_at_load(tmp_path):
    from crawler.registry import RegistryError

    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nid = "x"\nname = "X"\nhomepage = "http://127.0.0.1:1/"\n[source.extract]\n'
                   'body = "div[[["\n', "utf-8")
    with pytest.raises(RegistryError, match="bad selector"):
        load_registry(bad)


def test_the_publication_date_is_not_a_sidebar_or_modification_date():
    # No hints: the page's only metadata date is article:modified_time, its sidebar lists an agenda
    # date above the article, its footer says when the site was updated, and the article's own
    # posting line prints "12/06/2025 09:15 WIB", day first.
    expected = json.loads((OUTLETS / "contoh-pemkot" / "expected.json").read_text("utf-8"))
    html = (OUTLETS / "contoh-pemkot" / "page.html").read_text("utf-8")
    record = extract_article([Page(expected["url"], html)], timezone="Asia/Jakarta", language="id")
    assert record["published"] == "2025-06-12T09:15:00+07:00"
    assert record["modified"] == "2025-11-30T08:00:00+07:00"
