"""Any query string, through search and export: results or one clear line, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccnews.cli import cli

# Query-language pieces mixed with arbitrary text, so the fuzzer reaches the parser's corners.
PIECES = st.sampled_from(['"', "(", ")", "AND", "OR", "NOT", "title:", "source:", "city:", "field:", "lang:", "*", "?",
                          "~", "^2", "[", "]", "{", "}", "TO", "batik", "kota kreatif", "เชียงใหม่", ":", "\\", "-", "+",
                          "pekalongan", "\x00", "\n", "ḁ̷̝", "🙂", " "])
QUERIES = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=12).map("".join),
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def data(crawled):
    return crawled["data"]


def check(result):
    assert result.exit_code in (0, 1, 2), result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 1 or (result.exit_code == 2 and "Usage:" not in result.stderr):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@FUZZ
@given(query=QUERIES)
def test_search_never_shows_a_traceback(data, query):
    check(CliRunner().invoke(cli, ["search", "--json", "--data-dir", str(data), "--", query or "x"]))


@FUZZ
@given(query=QUERIES, since=st.one_of(st.none(), st.text(max_size=12)))
def test_export_never_shows_a_traceback(data, query, since):
    args = ["export", "--format", "ndjson", "--no-text", "--data-dir", str(data)]
    if since is not None:
        args += ["--since", since]
    check(CliRunner().invoke(cli, [*args, "--", query]))
