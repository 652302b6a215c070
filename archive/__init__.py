"""The SQLite archive: the source of truth for sources, articles, raw pages and crawl runs."""

from archive.db import DB_NAME, Archive, ArchiveError, resolve_data_dir
from archive.urls import url_key

__all__ = ["DB_NAME", "Archive", "ArchiveError", "resolve_data_dir", "url_key"]
