"""The Whoosh full-text index, derived from the archive."""

from indexer.index import (
    Filters,
    Hit,
    IndexProblem,
    QueryError,
    Results,
    doc_count,
    matching_ids,
    rebuild,
    search,
    sync,
)

__all__ = ["Filters", "Hit", "IndexProblem", "QueryError", "Results", "doc_count", "matching_ids", "rebuild", "search", "sync"]
