"""How the command line prints rows: one renderer, three forms, chosen by shared options.

A terminal gets a table; anything else (a pipe, a file) gets tab-separated text with a header line,
as sqlite-utils and git do, so `cut`, `sort` and spreadsheets read it; `--json` gives the rows
whole. URLs are never broken across lines: in a table a long one is shortened on screen while its
link (OSC 8) stays whole, and the row's id leads to `ccnews show ID` for the full record.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.style import Style
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "tsv", "json")


@dataclass(frozen=True)
class Column:
    key: str
    header: str = ""
    kind: str = "text"  # text | short (never wrapped) | url (one line, linked) | snippet (**marks**)

    @property
    def title(self) -> str:
        return self.header or self.key


def output_options(f):
    """--json, --tsv and --table, with one meaning in every command that lists rows."""

    @click.option("--table", "fmt", flag_value="table", help="A table, even when the output is not a terminal.")
    @click.option("--tsv", "fmt", flag_value="tsv",
                  help="Tab-separated text with a header line (the default when the output is not a terminal).")
    @click.option("--json", "fmt", flag_value="json", help="JSON, with every field of each row.")
    @functools.wraps(f)
    def wrapper(*args, fmt, **kwargs):
        return f(*args, fmt=fmt or ("table" if sys.stdout.isatty() else "tsv"), **kwargs)

    return wrapper


def cell_text(value: Any) -> str:
    """A value as one line of plain text: lists joined with "; ", tabs and newlines as spaces."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = "; ".join(cell_text(v) for v in value)
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _table_cell(value: Any, column: Column) -> Text | str:
    text = cell_text(value)
    if column.kind == "url" and text:
        return Text(text, style=Style(link=text))
    if column.kind == "snippet":
        parts = escape(text).split("**")
        return "".join(f"[bold yellow]{p}[/bold yellow]" if i % 2 else p for i, p in enumerate(parts))
    return escape(text)


def print_rows(rows: Sequence[dict[str, Any]], columns: Iterable[Column], fmt: str, *,
               console: Console | None = None, json_rows: Any = None,
               show_lines: bool = False) -> None:
    """Print `rows` as a table, TSV or JSON (`json_rows` when the JSON form holds more)."""
    columns = list(columns)
    if fmt == "json":
        click.echo(json.dumps(list(rows) if json_rows is None else json_rows, ensure_ascii=False, indent=2,
                              default=str))
        return
    if fmt == "tsv":
        lines = ["\t".join(c.title for c in columns)]
        lines += ["\t".join(cell_text(r.get(c.key)).replace("**", "") if c.kind == "snippet"
                            else cell_text(r.get(c.key)) for c in columns) for r in rows]
        click.echo("\n".join(lines))
        return
    table = Table(show_lines=show_lines)
    for c in columns:
        if c.kind in ("short", "url"):
            table.add_column(c.title, no_wrap=True, overflow="ellipsis", max_width=60 if c.kind == "url" else None)
        else:
            table.add_column(c.title, ratio=3 if c.kind == "snippet" else None)
    for r in rows:
        table.add_row(*(_table_cell(r.get(c.key), c) for c in columns))
    (console or Console(highlight=False)).print(table)


@contextmanager
def progress(label: str, console: Console, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A `tick(done, total=None)` for long work: a live bar with rate and time left on a terminal
    (rich.progress), else a line every ten seconds (logs, cron), and none for quick work."""
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(label, total=total)

            def tick(done: int, of: int | None = None) -> None:
                bar.update(task, completed=done, total=of if of is not None else total)

            yield tick
        return
    start = last = time.monotonic()
    every = 10.0

    def tick(done: int, of: int | None = None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every or not done:
            return
        last = now
        rate = done / (now - start)
        of = of if of is not None else total
        left = f", about {(of - done) / rate:.0f} s left" if of and rate else ""
        console.print(f"{label}: {done}" + (f" of {of}" if of else "") + f" ({rate:.0f}/s{left})")

    yield tick
