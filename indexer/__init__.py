"""The Whoosh full-text index, derived from the archive."""

from indexer.index import (
    Filters,
    Hit,
    IndexBusy,
    IndexProblem,
    QueryError,
    Results,
    catch_up,
    doc_count,
    keep_warm,
    matching_ids,
    merge,
    rebuild,
    search,
    sync,
    verify,
)

__all__ = [
    "Filters",
    "Hit",
    "IndexBusy",
    "IndexProblem",
    "QueryError",
    "Results",
    "catch_up",
    "doc_count",
    "keep_warm",
    "matching_ids",
    "merge",
    "rebuild",
    "search",
    "sync",
    "verify",
]
