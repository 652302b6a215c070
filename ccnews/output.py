"""Files the command line writes: whole or not at all, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from archive.errors import CcnewsError

EXPORT_COLUMNS = [
    "id", "url", "canonical_url", "source", "title", "published", "date_source", "modified", "language",
    "authors", "description", "image", "tags", "cities", "fields", "relevance", "group_id",
    "word_count", "pages", "first_seen", "fetched_at", "updated_at", "content_hash", "origin", "text",
]
JSON_COLUMNS = ("authors", "tags", "cities", "fields")
# OWASP's CSV-injection guidance: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class OutputError(CcnewsError):
    """An output file cannot be written (full disk, no permission, a missing folder)."""


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, made inert with a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it when the block succeeds and removed when it
    fails: a killed or failed export never leaves a broken file under the final name, nor
    destroys the good one that was there."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.",
                                   suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink(tmp)
        raise


@contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            yield fh


def _unlink(tmp: str | Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_rows(fh: IO[str], rows: Iterable[dict[str, Any]], fmt: str, formulas: bool = False) -> int:
    """Article rows as CSV (formula cells neutralised unless `formulas`), JSON or NDJSON, as
    `ccnews export` writes them and the web page serves them; returns how many."""
    n = 0
    writer = None
    if fmt == "json":
        fh.write("[")
    for row in rows:
        for key in JSON_COLUMNS:
            if key in row:
                row[key] = json.loads(row[key] or "[]")
        if fmt == "csv":
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                writer.writeheader()
            cells = {k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()}
            writer.writerow(cells if formulas else {k: neutralise(v) for k, v in cells.items()})
        elif fmt == "ndjson":
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            fh.write(("," if n else "") + "\n" + json.dumps(row, ensure_ascii=False))
        n += 1
    if fmt == "json":
        fh.write("\n]\n")
    return n
