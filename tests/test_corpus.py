"""Real news pages (../shared/corpora/fundus) served at their original paths from 127.0.0.1,
crawled through a sitemap, compared with their expected title, date and body.

Measured on this code (python bench/quality.py): 257/258 archived, titles 0.810 exact,
dates 0.984 same day, body F1 0.952 mean, trafilatura alone 0.949 on the same pages.
The floors below sit just under those figures.
"""

from __future__ import annotations

import os

import pytest

from bench.quality import DEFAULT_CORPUS, measure

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


if not (DEFAULT_CORPUS / "manifest.jsonl").exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"the real-page corpus is missing at {DEFAULT_CORPUS}")
    pytest.skip(f"no corpus at {DEFAULT_CORPUS} (set CCNEWS_CORPUS)", allow_module_level=True)


@pytest.fixture(scope="module")
def quality():
    return measure(DEFAULT_CORPUS, reference=True)


def test_nearly_every_real_page_is_archived(quality):
    assert quality["archived"] >= quality["pages"] - 2


def test_titles_match_the_headline(quality):
    assert quality["title_exact"] >= 0.79


def test_dates_fall_on_the_expected_day(quality):
    assert quality["date_same_day"] >= 0.97


def test_body_text_agrees_with_the_expected_body(quality):
    assert quality["body_f1_mean"] >= 0.94
    assert quality["body_f1_median"] >= 0.97


def test_pipeline_loses_no_quality_against_trafilatura_alone(quality):
    # Charset handling and what is handed to trafilatura must not cost accuracy.
    assert quality["body_f1_mean"] >= quality["trafilatura_alone_f1_mean"] - 0.005
