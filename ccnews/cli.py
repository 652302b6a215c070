"""The `ccnews` command line: each command parses options, calls one library function, prints."""

from __future__ import annotations

import functools
import io
import json
import signal
import sqlite3
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from archive import Archive, resolve_data_dir
from archive.errors import CcnewsError
from ccnews import __version__
from ccnews.filters import DATE_FORMS, FilterProblem, date_bound, date_range, make_filters
from ccnews.output import EXPORT_COLUMNS, write_rows
from ccnews.render import Column, output_options, print_rows
from ccnews.render import progress as _progress_bar
from crawler.registry import ENV_VAR as SOURCES_ENV
from crawler.registry import RegistryError, load_registry

# Piped output (files, grep) is not squeezed into 80 columns; a terminal keeps its own width.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 220)
err = Console(stderr=True, highlight=False)

FORMULAS_HELP = ("CSV: keep cells that begin with = + - @ as they are (by default they get a leading ' so a "
                 "spreadsheet shows them instead of running them).")


class OptionProblem(click.ClickException):
    """A bad option value: one line naming the option, and exit code 2 as for usage errors."""

    exit_code = 2

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")


class UsageProblem(click.ClickException):
    """A usage error as one line, pointing at the command's help; exit code 2 as click's."""

    exit_code = 2

    @classmethod
    def raise_from(cls, exc: click.UsageError) -> None:
        if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
            raise exc  # a group run bare: its help, as click prints it
        where = exc.ctx.command_path if exc.ctx else "ccnews"
        raise cls(f"{exc.format_message()} (see `{where} --help`)") from None


class ForcedStop(Exception):
    """The second Ctrl-C: once the command's own clean-up has run, stop the worker processes rather
    than wait for them to finish the pages they hold (what is archived is committed; the index
    catches up at the next crawl or `ccnews reindex --verify`)."""


class Group(click.Group):
    """Turns the library's own errors and click's usage errors into one clear line and a non-zero
    exit. Subgroups are of this class too."""

    group_class = type  # `@group.group()` makes a Group

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            UsageProblem.raise_from(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            UsageProblem.raise_from(exc)
        except CcnewsError as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.DatabaseError as exc:  # damage met while reading rows, outside a transaction
            from archive.db import archive_error

            raise click.ClickException(str(archive_error(exc, None))) from None
        except KeyboardInterrupt:
            # Not through `err`: Ctrl-C landing inside one of its prints, after the write and before
            # it empties its buffer, would have the line printed again ahead of this one.
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except ForcedStop:
            import multiprocessing

            for child in multiprocessing.active_children():  # extraction workers, the indexer
                child.kill()
            ctx.exit(130)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(0)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ccnews")
def cli() -> None:
    """Crawl, archive and search regional news about creative-city activity.

    \b
    Example:
        ccnews demo
        ccnews crawl radar-pekalongan --since 2024-01-01
        ccnews search '"kota kreatif" pekalongan' --since 2024-01-01
    """


def main() -> None:
    """The `ccnews` command. Once the command and Python's exit functions have run, the process
    ends without Python's finalization freeing each module and object one by one, which took about
    45 ms of a 0.25 s `ccnews search` (Instagram's servers end the same way, by `os._exit` after the
    exit functions). A code Python would print (`sys.exit("message")`), or a thread still running,
    gets Python's own exit, as does a run under a profiler or a tracer (`python -m cProfile -m
    ccnews`, coverage), which write their results after the program returns."""
    try:
        cli(prog_name="ccnews")
        code = 0
    except SystemExit as exc:
        code = exc.code
    import threading

    if (not (code is None or isinstance(code, int)) or threading.active_count() > 1
            or sys.gettrace() is not None or sys.getprofile() is not None):
        raise SystemExit(code)
    import atexit
    import os

    atexit._run_exitfuncs()  # logging's, multiprocessing's, temporary files'
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, a stream already closed
            pass
    os._exit(code or 0)


# -- shared options ------------------------------------------------------------------------------


def data_dir_option(f):
    return click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="CCNEWS_DATA",
        help="Data directory holding archive.db and the index (default ./ccnews-data; env CCNEWS_DATA).",
    )(f)


def sources_option(f):
    return click.option(
        "--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path), envvar=SOURCES_ENV,
        help="Source registry TOML replacing the bundled one (env CCNEWS_SOURCES).",
    )(f)


def _date_bound(value: str | None, end: bool, option: str | None = None) -> datetime | None:
    try:
        return date_bound(value, end, option)
    except FilterProblem as exc:
        raise OptionProblem(exc.option, exc.message) from None


def _date_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    try:
        return date_range(since, until)
    except FilterProblem as exc:
        raise OptionProblem(exc.option, exc.message) from None


def filter_options(f):
    """--source, --since, --until, --lang: shared by search and export."""

    @click.option("--source", "sources", multiple=True, metavar="ID", help="Only this source (repeatable).")
    @click.option("--since", metavar="DATE", help=f"Published on or after DATE ({DATE_FORMS}).")
    @click.option(
        "--until", metavar="DATE", help="Published on or before DATE (the same forms; 2016 means to its end)."
    )
    @click.option("--lang", metavar="CODE", help="Only articles detected in this language (id, th, en...).")
    @click.option(
        "--city",
        "cities",
        multiple=True,
        metavar="CITY",
        help="Only articles mentioning this member city (repeatable).",
    )
    @click.option(
        "--field",
        "fields",
        multiple=True,
        metavar="FIELD",
        help="Only this creative field: crafts, design, film, gastronomy, literature, media-arts, music, architecture.",
    )
    @click.option("--relevant", is_flag=True, help="Only articles about creative-city work (relevance >= 0.5).")
    @functools.wraps(f)
    def wrapper(*args, sources, since, until, lang, cities, fields, relevant, **kwargs):
        try:
            filters = make_filters(kwargs.get("data_dir"), sources=sources, since=since, until=until, lang=lang,
                                   cities=cities, fields=fields, relevant=relevant)
        except FilterProblem as exc:
            raise OptionProblem(exc.option, exc.message) from None
        return f(*args, filters=filters, **kwargs)

    return wrapper


def _open_archive(data_dir: Path | None, create: bool = False) -> Archive:
    return Archive(resolve_data_dir(data_dir), create=create)


def _parse_settings(pairs: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise OptionProblem("-s", f"{pair!r}: use NAME=VALUE")
        settings[name.strip()] = value
    return settings


# -- crawl ---------------------------------------------------------------------------------------


@cli.command()
@click.argument("source_ids", nargs=-1, metavar="SOURCE...")
@click.option("--all", "all_sources", is_flag=True, help="Crawl every source in the registry.")
@click.option(
    "--since",
    metavar="DATE",
    help=f"Skip entries dated before DATE wherever a feed, sitemap or listing dates them ({DATE_FORMS}).",
)
@click.option("--max-articles", type=click.IntRange(min=1), help="Stop each source after N articles.")
@click.option(
    "-s",
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Any Scrapy setting, as with `scrapy crawl -s`.",
)
@click.option("--no-index", is_flag=True, help="Do not update the search index at the end.")
@click.option(
    "--resume",
    is_flag=True,
    help="Go on after an interrupted crawl: archived articles (as always) and pages "
    "already judged not to be articles are not fetched again.",
)
@click.option("--redis", "redis_url", envvar="CCNEWS_REDIS_URL", metavar="URL",
              help="Be one worker of a crawl shared through Redis: items go there for `ccnews ingest` "
              "(env CCNEWS_REDIS_URL).")
@click.option("--run", "run_name", envvar="CCNEWS_RUN", metavar="NAME",
              help="With --redis: the shared crawl's name, the same for all its workers (default: today's UTC date; "
              "env CCNEWS_RUN).")
@click.option("-v", "--verbose", count=True, help="Show Scrapy's log (-v info, -vv debug).")
@data_dir_option
@sources_option
def crawl(source_ids, all_sources, since, max_articles, settings, no_index, resume, redis_url, run_name, verbose,
          data_dir, sources_file):
    """Crawl sources into the archive and bring the search index up to date.

    \b
    Example:
        ccnews crawl radar-pekalongan pekalongankota --since 2024-01-01
        ccnews crawl --all --max-articles 50 -s CONCURRENT_REQUESTS=8
        ccnews crawl radar-pekalongan --resume      # Ctrl-C, then the same again to go on
    """
    from crawler.runner import crawl_settings, run_crawl

    registry = load_registry(sources_file)
    ids = _chosen_sources(registry, source_ids, all_sources, "crawl")
    if since:
        since = _date_bound(since, False).date().isoformat()
    overrides: dict[str, Any] = {"LOG_LEVEL": ["WARNING", "INFO", "DEBUG"][min(verbose, 2)],
                                 "CCNEWS_ONE_LINE_ERRORS": not verbose}
    if no_index:
        overrides["INDEX_ENABLED"] = False
    if resume:
        overrides["CCNEWS_RESUME"] = True
    if redis_url:
        overrides.update(CCNEWS_REDIS_URL=redis_url, CCNEWS_RUN=run_name)
    overrides.update(_parse_settings(settings))
    shared = bool(overrides.get("CCNEWS_REDIS_URL"))
    data = resolve_data_dir(data_dir)
    if shared:
        # A worker of a shared crawl: items go to Redis, several workers crawl one source together.
        err.print(f"Redis mode: items go to {overrides['CCNEWS_REDIS_URL']} for `ccnews ingest`")
    else:
        _open_archive(data, create=True).close()  # a clear error now, not inside the crawl
        ids, _locks = _take_locks(data, ids)
    s = crawl_settings(data_dir=data, sources_file=sources_file, since=since,
                       max_articles=max_articles or 0, overrides=overrides)
    err.print(f"crawling {len(ids)} source(s)" + ("" if shared else f" into {data}"))
    summaries = run_crawl(ids, s, progress=_progress_printer())
    _print_summary(summaries)
    _end_of_crawl(ids, summaries, shared=shared)


def _end_of_crawl(ids: list[str], summaries: dict[str, dict[str, Any]], shared: bool = False,
                  interrupted: str = "interrupted; run again with --resume to go on") -> None:
    """One line per failed source and exit 1; after Ctrl-C one line and exit 130."""
    failed = {sid: sm for sid, sm in summaries.items()
              if sm.get("finish_reason") == "failed" or sm.get("outcome") == "failed"
              # A worker of a shared crawl that found the queue already taken is idle, not failed.
              and not (shared and not sm.get("pages_fetched") and not sm.get("errors"))}
    for sid, sm in failed.items():
        err.print(
            f"[red]{sid} failed: {escape(sm.get('failure') or 'see `ccnews runs`')}[/red]",
            overflow="ignore",
            crop=False,
        )
    if failed:
        sys.exit(1)
    # A second Ctrl-C stops the reactor at once: crawls that never closed have no summary.
    forced = bool(set(ids) - set(summaries))
    if forced or any(sm.get("outcome") == "interrupted" for sm in summaries.values()):
        # What was fetched is archived (and indexed, unless forced); the rest waits for the next run.
        # The run is over: a late Ctrl-C must not turn the exit with 130 into a death by the signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        err.print(interrupted)
        if forced:
            raise ForcedStop
        sys.exit(130)


def _skipped_text(counts) -> str:
    """The `skipped_<reason>` counts of an import or backfill, as `reason n, reason n`."""
    return ", ".join(f"{k.removeprefix('skipped_')} {v}" for k, v in sorted(counts.items()) if k.startswith("skipped_"))


def _chosen_sources(registry, source_ids, all_sources: bool, what: str) -> list[str]:
    """The source ids a command names (or all of them with --all), each known to the registry."""
    if all_sources == bool(source_ids):
        raise click.UsageError(f"name the sources to {what}, or give --all (see `ccnews sources list`)")
    ids = list(registry) if all_sources else list(dict.fromkeys(source_ids))
    unknown = [s for s in ids if s not in registry]
    if unknown:
        raise click.ClickException(f"unknown source {unknown[0]!r}; known: {', '.join(registry)}")
    return ids


def _take_locks(data: Path, ids: list[str]) -> tuple[list[str], list[int]]:
    """Hold each source's lock for the crawl, so the scheduler never starts it twice."""
    import os

    from ccnews.scheduler import LOCK_ENV, try_lock

    held_by_parent = os.environ.get(LOCK_ENV)
    free, fds = [], []
    for sid in ids:
        if sid == held_by_parent:
            free.append(sid)
            continue
        fd = try_lock(data, sid)
        if fd is None:
            err.print(f"[yellow]{sid} is being crawled already; skipped[/yellow]")
        else:
            free.append(sid)
            fds.append(fd)
    if not free:
        raise click.ClickException("every source named is being crawled already")
    return free, fds


def _progress_printer():
    """A line per source whenever its figures change: pages, new, updated, skipped, the rate and,
    while requests wait in its queue, the time they should take at that rate."""
    import time as clock

    last: dict[str, tuple] = {}
    started = clock.monotonic()

    def show(snapshot: dict[str, dict[str, Any]]) -> None:
        for sid, st in snapshot.items():
            pages = st.get("downloader/response_count", 0)
            row = (pages, st.get("ccnews/articles/new", 0), st.get("ccnews/articles/updated", 0),
                   sum(v for k, v in st.items() if k.startswith("ccnews/skipped/")))
            if row == last.get(sid) or not st:
                continue
            last[sid] = row
            rate = pages / max(clock.monotonic() - started, 1e-6)
            queued = st.get("scheduler/enqueued", 0) - st.get("scheduler/dequeued", 0)
            left = f", {queued} queued, about {queued / rate:.0f} s left" if queued > 0 and rate > 0 else ""
            err.print(f"  {sid}: {row[0]} pages, {row[1]} new, {row[2]} updated, {row[3]} skipped "
                      f"({rate:.1f} pages/s{left})")

    return show


def _print_summary(summaries: dict[str, dict[str, Any]]) -> None:
    table = Table(title="crawl summary", title_justify="left")
    for col in ("source", "finish", "fetched", "new", "updated", "same", "skipped", "errors"):
        table.add_column(col, justify="left" if col in ("source", "finish") else "right")
    for sid, sm in summaries.items():
        skipped = sm.get("skipped") or {}
        detail = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
        table.add_row(
            sid, str(sm.get("finish_reason")), str(sm.get("pages_fetched", 0)), str(sm.get("articles_new", 0)),
            str(sm.get("articles_updated", 0)), str(sm.get("articles_unchanged", 0)),
            f"{sm.get('articles_skipped', 0)}" + (f" ({detail})" if detail else ""), str(sm.get("errors", 0)),
        )
    out.print(table)
    for sid, sm in summaries.items():
        stats = sm.get("stats") or {}
        for key, label in (("ccnews/config/failed", "configured URL failed"),
                           ("ccnews/discovery/found", "found (add it to the registry)"),
                           ("ccnews/stale_feeds", "stale feed")):
            if stats.get(key):
                err.print(f"{sid}: {label}: {escape(str(stats[key]))}", overflow="ignore", crop=False)


# -- search and export ---------------------------------------------------------------------------


@cli.command()
@click.argument("query", nargs=-1, required=True)
@filter_options
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Results to show.")
@click.option("--offset", type=click.IntRange(0, 100_000), default=0, show_default=True,
              help="Skip this many results first (the next page: --offset 20).")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance", show_default=True,
              help="date: newest first.")
@click.option("--all-copies", is_flag=True, help="Show every syndicated copy as its own result.")
@output_options
@data_dir_option
def search(query, filters, limit, offset, sort, all_copies, fmt, data_dir):
    """Search the archive in Indonesian, Thai and English.

    \b
    Query syntax:
      batik pekalongan          both words (AND is implied)
      "kota kreatif"            the exact phrase, word for word
      batik OR tenun            either word
      batik NOT pameran         exclude a word
      (batik OR tenun) AND festival
      title:unesco              only in titles
      source:radar-pekalongan   one source (like --source)
      city:pekalongan           a tagged member city (like --city)
      field:design              a tagged creative field (like --field)
      Other fields: text, lang, tags, authors.

    \b
    Indonesian words match their other forms: "kembang" and "pengembangan" find
    "dikembangkan", "kreatif" finds "kreatifnya". Names are never cut down to a root
    ("Pekalongan" does not find "kalong"). Thai text is split into words, so
    "เมืองสร้างสรรค์" finds it inside unspaced Thai. Case and accents do not matter.
    A syndicated story shows once, with its copies listed; --all-copies shows each.
    A word the archive does not know gets a "did you mean" suggestion.

    \b
    Examples (Indonesian and English):
        ccnews search '"kota kreatif" pekalongan' --since 2016-01-01 --sort date
        ccnews search 'pengembangan batik' --city Pekalongan --relevant
        ccnews search 'เมืองสร้างสรรค์ เชียงใหม่' --lang th
        ccnews search '"creative city" design' --field design --json
    """
    from ccnews import queries

    with _open_archive(data_dir) as archive:
        page = queries.search(archive, resolve_data_dir(data_dir), " ".join(query), filters, limit=limit,
                              offset=offset, sort=sort, all_copies=all_copies)
    if page["behind"]:
        # The index lags the archive (a crawl is running, or one was stopped before indexing).
        err.print(f"{page['behind']} archived article(s) are not in the search index yet: a running crawl adds "
                  "them, or run `ccnews reindex --verify`")
    if page["suggestion"]:
        err.print(f"did you mean: [bold]{escape(page['suggestion'])}[/bold] ?")
    rows = hits = page["hits"]
    if fmt == "json":
        print_rows(rows, [], fmt)
        return
    if not hits:
        err.print("no matching articles" + (f" after the first {offset}" if offset and page["total"] else ""))
        return
    for r in rows:
        r["date"] = (r["published"] or "")[:10]
        r["also"] = [c["source"] for c in r["copies"]]
    print_rows(rows, SEARCH_COLUMNS, fmt, console=out, show_lines=True)
    shown = f"results {offset + 1}-{offset + len(hits)}" if offset else f"{len(hits)} result(s)"
    err.print(shown + (f"; the next ones: --offset {offset + limit}" if page["more"] else ""))


SEARCH_COLUMNS = [Column("id", kind="short"), Column("date", kind="short"), Column("source", kind="short"),
                  Column("title"), Column("also", "copies in"), Column("url", kind="url"),
                  Column("snippet", kind="snippet")]


@cli.command()
@click.argument("query", nargs=-1)
@filter_options
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "ndjson", "warc"]), default="csv",
              show_default=True, help="warc: the archived raw pages as WARC/1.1 (with -o FILE.warc.gz), for pywb, "
              "other web-archive tools or `ccnews import`.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout."
)
@click.option("--no-text", is_flag=True, help="Leave out article bodies.")
@click.option("--keep-formulas", is_flag=True, help=FORMULAS_HELP)
@click.option("--origin", type=click.Choice(["live", "web-archive"]),
              help="Only articles whose newest capture came from a live fetch, or from a web archive.")
@click.option("--sort", type=click.Choice(["relevance", "newest", "oldest"]),
              help="Order of the articles (default: relevance with a QUERY, else newest first).")
@click.option("--limit", type=click.IntRange(1), metavar="N", help="At most N articles (the first N in --sort order).")
@click.option("--all-copies", is_flag=True,
              help="Every syndicated copy as its own article (by default a story is exported once, as in search; "
              "a WARC export always holds every capture).")
@data_dir_option
def export(query, filters, fmt, output, no_text, keep_formulas, origin, sort, limit, all_copies, data_dir):
    """Export articles (all, or those matching QUERY) as CSV, JSON, NDJSON or WARC.

    \b
    Example:
        ccnews export --source demo-outlet --since 2024-01-01 --format csv -o outlet.csv
        ccnews export '"kota kreatif"' --format ndjson > kota-kreatif.ndjson
        ccnews export --source radar-pekalongan --format warc -o radar.warc.gz
    """
    from crawler.dates import to_utc_text
    from indexer import matching_ids

    columns = [c for c in EXPORT_COLUMNS if not (no_text and c == "text")]
    data = resolve_data_dir(data_dir)
    if sort == "relevance" and not query:
        raise OptionProblem("--sort", "relevance needs a QUERY to rank by")
    order = {"newest": "published desc", "oldest": "published asc"}.get(sort or "")
    with _open_archive(data) as archive:
        ids = matching_ids(data, " ".join(query), filters) if query else None
        rows = archive.select_articles(
            ids=ids, sources=list(filters.sources) or None, language=filters.language,
            columns=[*columns, *([] if "group_id" in columns else ["group_id"])],
            cities=list(filters.cities) or None, fields=list(filters.fields) or None,
            min_relevance=filters.min_relevance,
            since=to_utc_text(filters.since) if filters.since else None,
            until=to_utc_text(filters.until) if filters.until else None, origin=origin,
            order=order, limit=limit if all_copies or fmt == "warc" else None,
        )
        if not all_copies and fmt != "warc":
            rows = _one_per_story(rows, limit)
        if fmt == "warc":
            n = _write_warc(archive, [r["id"] for r in rows], output)
        else:
            n = _write_rows(rows, fmt, output, keep_formulas)
    err.print(f"exported {n} article(s)" + (f" to {output}" if output else ""))


def _one_per_story(rows, limit: int | None):
    """The first row of each syndication group (in the rows' order), up to `limit` rows."""
    seen: set[int] = set()
    for row in rows:
        group = row["group_id"] or row["id"]
        if group in seen:
            continue
        seen.add(group)
        yield row
        if limit and len(seen) >= limit:
            return


def _write_rows(rows, fmt: str, output: Path | None, formulas: bool = False) -> int:
    """Rows as CSV, JSON or NDJSON to `output` (whole or not at all) or stdout."""
    from ccnews.output import atomic_text

    if output:
        with atomic_text(output) as fh:
            return write_rows(fh, rows, fmt, formulas)
    fh = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True) \
        if hasattr(sys.stdout, "buffer") else sys.stdout
    try:
        return write_rows(fh, rows, fmt, formulas)
    finally:
        fh.flush()
        if fh is not sys.stdout:
            fh.detach()


def _write_warc(archive: Archive, ids: list[int], output: Path | None) -> int:
    from ccnews.output import atomic_path
    from crawler.webarchive import export_warc

    if output is None:
        raise OptionProblem("--format warc", "needs -o FILE.warc.gz (a WARC file is binary)")
    with atomic_path(output) as tmp, open(tmp, "wb") as fh:
        return export_warc(archive, ids, fh, gzip=output.name.endswith(".gz"), version=__version__)


# -- timelines and collections -------------------------------------------------------------------


@cli.command()
@click.argument("query", nargs=-1)
@filter_options
@click.option("--by", "by", type=click.Choice(["day", "week", "month", "year"]), default="month", show_default=True,
              help="The period each count covers.")
@click.option("--by-source", is_flag=True, help="One series per source.")
@click.option("--by-city", is_flag=True, help="One series per tagged member city (an article naming two counts twice).")
@click.option("--stories", is_flag=True, help="Count a syndicated story once, not once per copy.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the counts as CSV.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a bar chart as PNG.")
@data_dir_option
def timeline(query, filters, by, by_source, by_city, stories, csv_path, png_path, data_dir):
    """Count matching articles over time: a bar chart here, and optionally CSV and PNG.

    \b
    Example:
        ccnews timeline '"kota kreatif"' --city Pekalongan --by year --png pekalongan.png
        ccnews timeline batik --by month --by-source --csv batik.csv
    """
    from ccnews import timeline as tl

    if by_source and by_city:
        raise UsageProblem("--by-source and --by-city: choose one")
    kind = "source" if by_source else "city" if by_city else None
    data = resolve_data_dir(data_dir)
    text = " ".join(query)
    with _open_archive(data) as archive:
        periods, series, undated = tl.count(archive, data, text, filters, by, kind, stories)
    if not periods:
        err.print("no dated articles match")
        return
    title = tl.describe(text, filters, by, stories)
    out.print(f"[bold]{escape(title)}[/bold]")
    for line in tl.bars(periods, series, by=by):
        out.print(escape(line))
    if undated:
        err.print(f"{undated} matching article(s) have no date and are not counted")
    if csv_path:
        tl.write_csv(csv_path, periods, series, kind)
        err.print(f"wrote {csv_path}")
    if png_path:
        tl.write_png(png_path, periods, series, title, by)
        err.print(f"wrote {png_path}")


@cli.group()
def collection():
    """Named sets of articles, saved with the query that made them."""


@collection.command("create")
@click.argument("name")
@click.option("--query", "-q", "query", default=None, help="The search that fills the collection.")
@filter_options
@click.option("--description", help="What the collection is for.")
@data_dir_option
def collection_create(name, query, filters, description, data_dir):
    """Create a collection from a query and filters (or empty, to fill by hand).

    \b
    Example:
        ccnews collection create pekalongan-ccc --query '"kota kreatif"' --city Pekalongan \\
            --description "Pekalongan as a UNESCO Creative City"
    """
    from ccnews import collections as colls

    data = resolve_data_dir(data_dir)
    with _open_archive(data) as archive:
        n = colls.create(archive, data, name, query, filters, description)
    err.print(f"collection {name!r} created with {n} article(s)")


@collection.command("refresh")
@click.argument("name")
@data_dir_option
def collection_refresh(name, data_dir):
    """Run a collection's query again and add new matches (removed articles stay out).

    \b
    Example:
        ccnews collection refresh pekalongan-ccc
    """
    from ccnews import collections as colls

    data = resolve_data_dir(data_dir)
    with _open_archive(data) as archive:
        n = colls.refresh(archive, data, name)
    err.print(f"{n} new article(s) in {name!r}")


@collection.command("add")
@click.argument("name")
@click.argument("refs", nargs=-1, required=True, metavar="ID_OR_URL...")
@data_dir_option
def collection_add(name, refs, data_dir):
    """Add articles by id or URL.

    \b
    Example:
        ccnews collection add pekalongan-ccc 12 https://radarpekalongan.disway.id/read/101/...
    """
    from archive import collections as store
    from ccnews import collections as colls

    with _open_archive(data_dir) as archive:
        n = store.add(archive, name, colls.resolve(archive, list(refs)))
    err.print(f"added {n} article(s) to {name!r}")


@collection.command("remove")
@click.argument("name")
@click.argument("refs", nargs=-1, required=True, metavar="ID_OR_URL...")
@data_dir_option
def collection_remove(name, refs, data_dir):
    """Remove articles by id or URL; a refresh will not add them back.

    \b
    Example:
        ccnews collection remove pekalongan-ccc 12
    """
    from archive import collections as store
    from ccnews import collections as colls

    with _open_archive(data_dir) as archive:
        n = store.remove(archive, name, colls.resolve(archive, list(refs)))
    err.print(f"removed {n} article(s) from {name!r}")


@collection.command("list")
@output_options
@data_dir_option
def collection_list(fmt, data_dir):
    """List collections with their article counts.

    \b
    Example:
        ccnews collection list
    """
    from archive import collections as store

    with _open_archive(data_dir) as archive:
        rows = store.listing(archive)
    print_rows(rows, [Column("name", kind="short"), Column("articles", kind="short"), Column("query"),
                      Column("description"), Column("updated", kind="short")], fmt, console=out)


@collection.command("show")
@click.argument("name")
@output_options
@data_dir_option
def collection_show(name, fmt, data_dir):
    """Show a collection: its query, filters and articles.

    \b
    Example:
        ccnews collection show pekalongan-ccc
    """
    from archive import collections as store

    with _open_archive(data_dir) as archive:
        coll = store.get(archive, name)
        ids = store.article_ids(archive, name)
        rows = list(archive.select_articles(ids=ids, columns=["id", "published", "source", "title", "url"]))
    if fmt == "json":
        print_rows([], [], fmt, json_rows={**coll, "articles": rows})
        return
    # The collection's own description goes to stderr: stdout stays one table (or TSV).
    err.print(f"[bold]{escape(coll['name'])}[/bold]: {escape(coll['description'] or '')}")
    err.print(
        f"query: {escape(coll['query'] or '(none)')}  "
        f"filters: {escape(json.dumps(coll['filters'], ensure_ascii=False))}"
    )
    for r in rows:
        r["date"] = (r["published"] or "")[:10]
    print_rows(rows, [Column("id", kind="short"), Column("date", kind="short"), Column("source", kind="short"),
                      Column("title"), Column("url", kind="url")], fmt, console=out)
    err.print(f"{len(rows)} article(s)")


@collection.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "ndjson"]), default="csv", show_default=True,
              help="CSV for spreadsheets, JSON or NDJSON (one article per line) for programs.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout."
)
@click.option("--no-text", is_flag=True, help="Leave out article bodies.")
@click.option("--keep-formulas", is_flag=True, help=FORMULAS_HELP)
@data_dir_option
def collection_export(name, fmt, output, no_text, keep_formulas, data_dir):
    """Export a collection's articles as CSV, JSON or NDJSON.

    \b
    Example:
        ccnews collection export pekalongan-ccc --format csv -o pekalongan.csv
    """
    from archive import collections as store

    columns = [c for c in EXPORT_COLUMNS if not (no_text and c == "text")]
    with _open_archive(data_dir) as archive:
        ids = store.article_ids(archive, name)
        n = _write_rows(archive.select_articles(ids=ids, columns=columns), fmt, output, keep_formulas)
    err.print(f"exported {n} article(s)" + (f" to {output}" if output else ""))


@collection.command("delete")
@click.argument("name")
@data_dir_option
def collection_delete(name, data_dir):
    """Delete a collection (its articles stay in the archive).

    \b
    Example:
        ccnews collection delete old-draft
    """
    from archive import collections as store

    with _open_archive(data_dir) as archive:
        store.delete(archive, name)
    err.print(f"deleted collection {name!r}")


# -- maintenance ---------------------------------------------------------------------------------


@cli.command()
@click.option("--redis", "redis_url", required=True, envvar="CCNEWS_REDIS_URL", metavar="URL",
              help="Redis holding the crawlers' items (env CCNEWS_REDIS_URL).")
@click.option(
    "--batch", type=click.IntRange(1, 10_000), default=200, show_default=True, help="Items per SQLite commit."
)
@click.option("--idle-exit", type=click.FloatRange(0), default=None, metavar="SECONDS",
              help="Stop after the queue has been empty this long (default: run until Ctrl-C or SIGTERM).")
@click.option("--stop-after-runs", type=click.IntRange(1), default=None, metavar="N",
              help="Stop once N crawler processes have reported the end of their run and the queue is empty "
              "(a known set of workers; each reports after its last item).")
@data_dir_option
def ingest(redis_url, batch, idle_exit, stop_after_runs, data_dir):
    """Move crawled items from Redis into the archive and the index (the one writer of a
    multi-machine setup). Safe to kill: what it took but did not commit is replayed.

    \b
    Example:
        ccnews ingest --redis redis://127.0.0.1:6379/0 --data-dir /srv/ccnews
    """
    from ccnews.ingest import connect
    from ccnews.ingest import ingest as run

    data = resolve_data_dir(data_dir)
    server = connect(redis_url)
    with _open_archive(data, create=True) as archive:
        err.print(f"ingesting from {redis_url} into {data}")
        counts = run(server, archive, data, batch_size=batch, idle_exit=idle_exit, stop_after_runs=stop_after_runs,
                     say=err.print)
    err.print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to ingest")


@cli.command()
@click.argument("source_ids", nargs=-1, metavar="SOURCE...")
@click.option("--all", "all_sources", is_flag=True, help="Backfill every source in the registry.")
@click.option("--since", required=True, metavar="DATE", help=f"The first day to look for ({DATE_FORMS}).")
@click.option("--until", metavar="DATE", help="The last day to look for (the same forms; default today).")
@click.option("--cdx", metavar="URL", envvar="CCNEWS_BACKFILL_CDX",
              help="A CDX API instead of the Wayback Machine's: pywb's http://HOST/COLL/cdx, OpenWayback's, a "
              "national library's (env CCNEWS_BACKFILL_CDX, also for scheduled backfills).")
@click.option("--replay", metavar="URL", help="Where that archive replays raw captures as URL/TIMESTAMPid_/ORIGINAL "
              "(default: the --cdx URL without /cdx).")
@click.option("--delay", type=click.FloatRange(0, 600), metavar="SECONDS",
              help="Seconds between requests to the archive (default 4 for web.archive.org, 1 elsewhere).")
@click.option("--from", "origin", type=click.Choice(["wayback", "commoncrawl"]), default="wayback", show_default=True,
              help="wayback: a Wayback-style archive (--cdx); commoncrawl: Common Crawl's URL index and WARC files.")
@click.option("--crawl", "crawls", multiple=True, metavar="ID",
              help="With --from commoncrawl: only this crawl (CC-MAIN-2016-11; repeatable). Default: every crawl "
              "that overlaps the period.")
@click.option("--cc-index", metavar="URL", help="With --from commoncrawl: the index server (default "
              "https://index.commoncrawl.org).")
@click.option("--cc-data", metavar="URL", help="With --from commoncrawl: where its WARC files are read by byte range "
              "(default https://data.commoncrawl.org).")
@click.option("--refetch", is_flag=True, help="Also fetch captures of URLs the archive already holds.")
@click.option("--no-index", is_flag=True, help="Do not update the search index at the end.")
@data_dir_option
@sources_option
def backfill(source_ids, all_sources, since, until, cdx, replay, delay, origin, crawls, cc_index, cc_data, refetch,
             no_index, data_dir, sources_file):
    """Fetch a source's past articles from a web archive (the Wayback Machine by default).

    Looks up captures of the source's hosts and former_domains in the archive's CDX index (status
    200, HTML, one capture per URL: the earliest in the period), fetches the archived bytes, and
    archives them through the same extraction as a crawl. Run it again to go on after an
    interruption: no capture is fetched twice.

    \b
    Example:
        ccnews backfill radar-pekalongan --since 2014-01-01 --until 2020-12-31
        ccnews backfill --all --since 2016-01-01 --cdx http://127.0.0.1:8080/my-coll/cdx
        ccnews backfill radar-pekalongan --since 2016-03-01 --until 2016-03-31 --from commoncrawl
    """
    from crawler.backfill import ArchiveEndpoint
    from crawler.backfill import backfill as run
    from indexer import catch_up

    registry = load_registry(sources_file)
    ids = _chosen_sources(registry, source_ids, all_sources, "backfill")
    first, last = _date_range(since, until)
    last = last or datetime.now().astimezone()
    if origin == "commoncrawl":
        endpoint = ArchiveEndpoint.commoncrawl(cc_index, cc_data, list(crawls), delay)
    else:
        endpoint = ArchiveEndpoint.from_cdx(cdx, replay, delay)
    data = resolve_data_dir(data_dir)
    shown = {"at": 0.0}

    def show(sid, state, remaining) -> None:
        import time as clock

        if clock.monotonic() - shown["at"] < 2 and remaining:
            return
        shown["at"] = clock.monotonic()
        eta = state.eta(remaining)
        err.print(f"  {sid}: {state.listed} captures listed, {state.fetched} fetched, {state.archived} archived"
                  + (f", about {eta / 60:.0f} min left" if eta and remaining else ""))

    err.print(f"backfilling {len(ids)} source(s) from {endpoint.name} ({first.date()} to {last.date()}, "
              f"{endpoint.delay:g} s between requests)")
    with _open_archive(data, create=True) as archive:
        archive.upsert_sources([registry[s].as_dict() for s in ids])
        results = run(archive, registry, ids, endpoint, first.date(), last.date(), refetch=refetch, progress=show)
        _regrouped, indexed = catch_up(archive, data, index=not no_index)
    for sid, counts in results.items():
        skipped = _skipped_text(counts)
        err.print(
            f"{sid}: {counts['listed']} captures listed, {counts['fetched']} fetched: {counts['new']} new, "
            f"{counts['updated']} updated, {counts['unchanged']} unchanged"
            + (f"; skipped: {skipped}" if skipped else "")
        )
    err.print(f"indexed {indexed}")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source_id", metavar="ID", help="Assign every capture to this source (default: by host, "
              "former domains included).")
@click.option("--since", metavar="DATE", help=f"Only articles published on or after DATE ({DATE_FORMS}).")
@click.option("--until", metavar="DATE", help="Only articles published on or before DATE (the same forms).")
@click.option("--no-index", is_flag=True, help="Do not update the search index at the end.")
@data_dir_option
@sources_option
def import_(paths, source_id, since, until, no_index, data_dir, sources_file):
    """Import web-archive files (WARC, WARC.GZ, ARC, WACZ; Heritrix, wget, Browsertrix, CC-NEWS).

    HTML responses with status 200 whose host belongs to a registry source (or to one of its
    former_domains) go through the same extraction, tagging and archive as a crawl. Importing a
    file again adds nothing; an interrupted import goes on where it stopped.

    \b
    Example:
        ccnews import radar-2016.warc.gz
        ccnews import CC-NEWS-20160311*.warc.gz --since 2016-03-01 --until 2016-03-31
    """
    from crawler.webarchive import Limits, import_files
    from indexer import catch_up

    registry = load_registry(sources_file)
    if source_id and source_id not in registry:
        raise OptionProblem("--source", f"unknown source {source_id!r} (see `ccnews sources list`)")
    limits = Limits(*_date_range(since, until))
    data = resolve_data_dir(data_dir)

    def show(counts) -> None:
        err.print(f"  {counts['records']} records: {counts['new']} new, {counts['updated']} updated, "
                  f"{counts['unchanged']} unchanged")

    with _open_archive(data, create=True) as archive:
        archive.upsert_sources([s.as_dict() for s in registry.values()])
        counts = import_files(archive, registry, list(paths), source=source_id, limits=limits, progress=show)
        _regrouped, indexed = catch_up(archive, data, index=not no_index)
    skipped = _skipped_text(counts)
    err.print(f"imported {counts['files']} file(s), {counts['records']} records: {counts['new']} new, "
              f"{counts['updated']} updated, {counts['unchanged']} unchanged"
              + (f"; skipped: {skipped}" if skipped else "") + f"; indexed {indexed}")
    if counts["files_already_imported"]:
        err.print(f"{counts['files_already_imported']} file(s) were imported before and were passed over")
    if counts["damaged"]:
        err.print(f"[yellow]{counts['damaged']} damaged stretch(es) skipped; the rest of each file was read[/yellow]")


@cli.command()
@click.argument("ref", metavar="ID_OR_URL")
@click.option("--versions", is_flag=True, help="Also list the earlier captures of the article (what it said before).")
@click.option("--raw", is_flag=True, help="Print the archived raw HTML of page 1 instead (of --version N with it).")
@click.option("--version", "version_no", type=click.IntRange(1), metavar="N",
              help="With --raw: the Nth earlier capture (1 is the oldest; see --versions).")
@click.option("--json", "as_json", is_flag=True, help="Print the article as one JSON object.")
@data_dir_option
def show(ref, versions, raw, version_no, as_json, data_dir):
    """Show one archived article: its fields, clean text, copies, collections and versions.

    \b
    Example:
        ccnews show 12 --versions
        ccnews show https://radarpekalongan.disway.id/read/101/... --json
        ccnews show 12 --raw --version 1 > first-capture.html
    """
    from ccnews import collections as colls

    if version_no and not raw:
        raise OptionProblem("--version", "goes with --raw (the listing is --versions)")
    with _open_archive(data_dir) as archive:
        (article_id,) = colls.resolve(archive, [ref])
        if raw:
            if version_no:
                found = archive.versions(article_id)
                if version_no > len(found):
                    raise OptionProblem("--version", f"article {article_id} has {len(found)} earlier capture(s)")
                pages = archive.version_pages(found[version_no - 1]["id"])
            else:
                pages = archive.raw_pages(article_id)
            if not pages:
                raise click.ClickException(f"article {article_id} has no archived raw page")
            sys.stdout.buffer.write(pages[0]["body"])
            sys.stdout.flush()
            return
        record = archive.article_details(article_id, versions=versions)
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    for key in ("id", "title", "url", "source", "published", "date_source", "authors", "language", "cities", "fields",
                "relevance", "origin", "first_seen", "fetched_at", "updated_at"):
        value = record.get(key)
        value = ", ".join(value) if isinstance(value, list) else value
        out.print(
            f"[bold]{key:>11}[/bold]  {escape(str(value if value is not None else ''))}", overflow="ignore", crop=False
        )
    for copy in record["copies"]:
        out.print(f"[bold]{'copy':>11}[/bold]  {copy['id']} {escape(copy['source'])} {escape(copy['url'])}",
                  overflow="ignore", crop=False)
    for name in record["collections"]:
        out.print(f"[bold]{'collection':>11}[/bold]  {escape(name)}")
    for n, v in enumerate(record.get("versions", []), 1):
        out.print(
            f"[bold]{'version ' + str(n):>11}[/bold]  captured {v['captured_at']}, replaced {v['superseded_at']}: "
            f"{escape(v['title'] or '')}",
            overflow="ignore",
            crop=False,
        )
    out.print()
    out.print(escape(record.get("text") or ""))
    if not versions and record["n_versions"]:
        err.print(f"{record['n_versions']} earlier capture(s): see them with --versions")


@cli.command()
@data_dir_option
def retag(data_dir):
    """Tag the whole archive again with cities, fields and relevance, and regroup copies.

    Run it after editing the city list or terms in archive/data/.

    \b
    Example:
        ccnews retag --data-dir ./ccnews-data
    """
    from crawler.tagging import retag_archive
    from indexer import catch_up

    data = resolve_data_dir(data_dir)
    with _open_archive(data) as archive:
        with _progress_bar("retagging", err) as tick:
            counts = retag_archive(archive, progress=tick)
        regrouped, indexed = catch_up(archive, data)
    err.print(f"retagged {counts['changed']} changed, {counts['unchanged']} unchanged; "
              f"{regrouped} regrouped; reindexed {indexed}")


@cli.command()
@click.option("--verify", is_flag=True,
              help="Do not rebuild: compare the archive with the index and repair what differs.")
@click.option("--merge", "merge_segments", is_flag=True,
              help="Do not rebuild: merge the index's segments into one.")
@data_dir_option
def reindex(verify, merge_segments, data_dir):
    """Rebuild the search index from the archive (after damage, or an upgrade).

    With --verify, check instead that every archived article is in the index (and nothing else
    is), index what is missing and remove what is left over. With --merge, merge the segments the
    index has collected (a rebuild leaves one per core, each crawl a few more) into one: searches
    of a large index get faster (at 10^6 articles, frequent words about 3x).

    \b
    Example:
        ccnews reindex --data-dir ./ccnews-data
        ccnews reindex --verify
        ccnews reindex --merge
    """
    from indexer import merge, rebuild
    from indexer import verify as check

    data = resolve_data_dir(data_dir)
    if verify and merge_segments:
        raise click.UsageError("--verify and --merge are two different jobs: give one")
    if merge_segments:
        before, after = merge(data)
        err.print(f"merged {before} segment(s) into {after}" if before > after else
                  f"the index has {after} segment(s): nothing to merge")
        return
    with _open_archive(data) as archive:
        if verify:
            found = check(archive, data)
            err.print(f"{found['missing']} article(s) flagged as indexed were missing from the index, "
                      f"{found['extra']} indexed article(s) are no longer archived, {found['behind']} were waiting "
                      f"to be indexed; indexed {found['indexed']}" + ("" if found["missing"] or found["extra"] else
                                                                       "; the index matches the archive"))
            return
        with _progress_bar("indexing", err, archive.count_articles()) as tick:
            n = rebuild(archive, data, progress=tick)
    err.print(f"indexed {n} article(s)")


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="ID", help="Only this source (repeatable).")
@click.option("--min-words", type=click.IntRange(1), default=None, metavar="N",
              help="Shorter bodies are not articles (default: the crawl's CCNEWS_MIN_WORDS); they stay archived.")
@data_dir_option
@sources_option
def reextract(sources, min_words, data_dir, sources_file):
    """Re-run extraction on the archived raw pages, without fetching again.

    Each source is read with its registry entry, or, when the registry no longer has it, with the
    settings the archive kept from its last crawl (timezone, language, extraction hints).

    \b
    Example:
        ccnews reextract --source radar-pekalongan
    """
    from crawler.extract import MIN_WORDS
    from crawler.reextract import reextract as run
    from crawler.reextract import sources_for
    from indexer import catch_up

    registry = load_registry(sources_file)
    data = resolve_data_dir(data_dir)
    with _open_archive(data) as archive:
        known, unknown = sources_for(archive, registry)
        for sid in sources:
            if sid not in known and sid not in unknown:
                raise OptionProblem("--source", f"the archive holds no article of {sid!r} "
                                                f"(it holds: {', '.join(sorted([*known, *unknown]))})")
        for sid in unknown:
            if not sources or sid in sources:
                err.print(f"{sid}: in neither the registry nor the archive's sources: its dates are read as UTC")
        todo = archive.count_articles() if not sources else None
        with _progress_bar("re-extracting", err, todo) as tick:
            counts = run(archive, registry, list(sources) or None, progress=tick, min_words=min_words or MIN_WORDS)
        _regrouped, indexed = catch_up(archive, data)
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no articles"
    err.print(f"re-extracted: {parts}; reindexed {indexed}")


@cli.command()
@click.option("--source", help="Only runs of this source.")
@click.option("--failed", is_flag=True, help="Only failed runs.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Runs to show.")
@output_options
@data_dir_option
def runs(source, failed, limit, fmt, data_dir):
    """List recent crawl runs with their outcome and what each fetched, kept and skipped.

    A run's outcome comes from its own figures: one that fetched nothing or met only errors
    failed, whatever its process (or Scrapyd) reported.

    \b
    Example:
        ccnews runs --source radar-pekalongan
        ccnews runs --failed
    """
    from ccnews.scheduler import mark_stale_runs

    data = resolve_data_dir(data_dir)
    with _open_archive(data) as archive:
        mark_stale_runs(archive, data)
        rows = archive.runs(source, limit, outcome="failed" if failed else None)
    for r in rows:
        r["skipped"] = json.loads(r["skipped"] or "{}")
        r.pop("stats", None)
    print_rows(rows, [Column("id", kind="short"), Column("source", kind="short"), Column("started", kind="short"),
                      Column("outcome", kind="short"), Column("finish_reason", "finish"),
                      Column("pages_fetched", "fetched"), Column("articles_new", "new"),
                      Column("articles_updated", "updated"), Column("articles_unchanged", "same"),
                      Column("articles_skipped", "skipped"), Column("errors")], fmt, console=out)


@cli.command()
@click.option("--failed-runs", type=click.IntRange(1, 100), default=3, show_default=True, metavar="N",
              help="Report a source whose last N runs failed.")
@click.option("--quiet-days", type=click.IntRange(1, 3650), default=7, show_default=True, metavar="D",
              help="Report a source with listed entries but no new article for D days.")
@output_options
@data_dir_option
@sources_option
def health(failed_runs, quiet_days, fmt, data_dir, sources_file):
    """Sources that need attention: failing, or listing entries while collecting nothing new.

    Exits 1 when there is a problem, so a monitor can run it.

    \b
    Example:
        ccnews health --failed-runs 3 --quiet-days 7
    """
    from ccnews.scheduler import health as check
    from ccnews.scheduler import mark_stale_runs

    registry = load_registry(sources_file)
    data = resolve_data_dir(data_dir)
    with _open_archive(data) as archive:
        mark_stale_runs(archive, data)
        problems = check(archive, registry, failed_runs, quiet_days)
    if problems or fmt == "json":
        print_rows(problems, [Column("source", kind="short"), Column("problem"), Column("since", kind="short")],
                   fmt, console=out)
    if not problems:
        err.print("all sources healthy")
    if problems:
        sys.exit(1)


@cli.group()
def schedule():
    """Scheduled crawls: due sources, ticks for cron or systemd, a foreground loop."""


@schedule.command("list")
@output_options
@data_dir_option
@sources_option
def schedule_list(fmt, data_dir, sources_file):
    """Each source's rule, last run, its outcome, and when it is next due.

    \b
    Example:
        ccnews schedule list
    """
    from ccnews.scheduler import mark_stale_runs, status

    registry = load_registry(sources_file)
    data = resolve_data_dir(data_dir)
    with _open_archive(data, create=True) as archive:
        mark_stale_runs(archive, data)
        rows = status(archive, data, registry)
    print_rows([{"source": r.source, "rule": r.rule, "running": r.running,
                 "last_started": r.last["started"] if r.last else None,
                 "last_outcome": r.last.get("outcome") if r.last else None,
                 "next_due": r.next_due.replace(microsecond=0).isoformat()} for r in rows],
               [Column("source", kind="short"), Column("rule"), Column("last_started", "last run", kind="short"),
                Column("last_outcome", "outcome", kind="short"), Column("next_due", "next due", kind="short"),
                Column("running")], fmt, console=out)


@schedule.command("tick")
@click.option("--scrapyd", metavar="URL[,URL...]", help="Submit due sources as jobs to these Scrapyd daemons.")
@click.option("--max-running", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="Crawls running at once on this machine; the other due sources wait for a later tick.")
@data_dir_option
@sources_option
def schedule_tick(scrapyd, max_running, data_dir, sources_file):
    """Start every due source once, each in its own process, and return.

    Run it every minute from cron or a systemd timer (see `schedule crontab` and
    `schedule systemd`). A source whose crawl is still running is skipped.

    \b
    Example:
        ccnews schedule tick --data-dir /srv/ccnews
        ccnews schedule tick --scrapyd http://127.0.0.1:6800,http://127.0.0.1:6801
    """
    from ccnews.scheduler import tick

    registry = load_registry(sources_file)
    data = resolve_data_dir(data_dir)
    daemons = [u.strip().rstrip("/") for u in scrapyd.split(",") if u.strip()] if scrapyd else None
    with _open_archive(data, create=True) as archive:
        started = tick(archive, data, registry, sources_file, scrapyd=daemons, max_running=max_running)
    for item in started:
        where = f"job {item['job']} on {item['daemon']}" if "job" in item else f"pid {item['pid']}"
        err.print(f"started {'the first backfill of ' if item.get('backfill') else ''}{item['source']} ({where})")
    if not started:
        err.print("nothing due")


@schedule.command("run")
@click.option("--every", "interval", type=click.FloatRange(1, 3600), default=60, show_default=True,
              help="Seconds between ticks.")
@click.option("--max-running", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="Crawls running at once.")
@data_dir_option
@sources_option
def schedule_run(interval, max_running, data_dir, sources_file):
    """Tick in the foreground until Ctrl-C or SIGTERM, then stop the crawls cleanly.

    \b
    Example:
        ccnews schedule run --every 60
    """
    from ccnews.scheduler import run_loop

    registry = load_registry(sources_file)
    data = resolve_data_dir(data_dir)
    _open_archive(data, create=True).close()
    err.print(f"scheduling {len(registry)} source(s) into {data}; Ctrl-C to stop")
    run_loop(lambda: _open_archive(data), data, registry, sources_file, every=interval, say=err.print,
             max_running=max_running)
    err.print("stopped")


@schedule.command("crontab")
@data_dir_option
@sources_option
def schedule_crontab(data_dir, sources_file):
    """Print a crontab entry that ticks every minute, with absolute paths.

    \b
    Example:
        ccnews schedule crontab --data-dir /srv/ccnews | crontab -
    """
    from ccnews.scheduler import crontab

    click.echo(crontab(resolve_data_dir(data_dir), sources_file), nl=False)


@schedule.command("systemd")
@click.option("--user", help="Run the service as this user.")
@data_dir_option
@sources_option
def schedule_systemd(user, data_dir, sources_file):
    """Print a systemd service and timer that tick every minute.

    \b
    Example:
        ccnews schedule systemd --data-dir /srv/ccnews --user ccnews
    """
    from ccnews.scheduler import systemd

    click.echo(systemd(resolve_data_dir(data_dir), sources_file, user), nl=False)


# -- sources -------------------------------------------------------------------------------------


@cli.group()
def sources():
    """The source registry: list it, or check its sources live."""


@sources.command("list")
@sources_option
@output_options
def sources_list(sources_file, fmt):
    """List the sources of the registry.

    \b
    Example:
        ccnews sources list --sources my-sources.toml
    """
    registry = load_registry(sources_file)
    rows = [s.as_dict() for s in registry.values()]
    if fmt != "json":
        rows = [{**r, "feeds": len(r["feeds"]), "sitemaps": len(r["sitemaps"]), "listings": len(r["listings"])}
                for r in rows]
    print_rows(rows, [Column("id", kind="short"), Column("name"), Column("city"), Column("language", "lang"),
                      Column("feeds"), Column("sitemaps"), Column("listings")], fmt, console=out)


@sources.command("add")
@click.argument("homepage", metavar="URL")
@click.option("--id", "source_id", metavar="ID", help="The new source's id (default: from the host name).")
@click.option("--write", is_flag=True, help="Append the entry to the registry file given with --sources.")
@click.option("--delay", type=click.FloatRange(0, 60), default=0.5, show_default=True,
              help="Seconds between the probe's requests.")
@sources_option
def sources_add(homepage, source_id, write, delay, sources_file):
    """Onboard an outlet: probe its homepage and print a ready registry entry.

    Finds feeds and sitemaps (robots.txt, <link rel=alternate>, usual paths) or a listing page,
    samples article URLs, infers article_pattern (and checks it rejects the section and tag pages
    seen), detects the language, proposes a time zone and a member city, and extracts a few
    articles to show what ccnews would store. About a dozen requests, obeying robots.txt.

    \b
    Example:
        ccnews sources add https://radarpekalongan.disway.id/
        ccnews sources add https://pekalongankota.go.id/ --id pekalongankota --sources my.toml --write
    """
    from crawler.onboard import Fetcher, probe
    from crawler.registry import parse_registry

    if write and not sources_file:
        raise OptionProblem("--write", "needs --sources FILE (the bundled registry is not written to)")
    existing = load_registry(sources_file) if sources_file and Path(sources_file).exists() else {}
    proposal = probe(homepage, source_id=source_id, fetcher=Fetcher(delay=delay))
    if proposal.id in existing:
        raise OptionProblem("--id", f"{proposal.id!r} is already in {sources_file}")
    for key, label in (("feeds", "feed"), ("sitemaps", "sitemap"), ("listings", "listing")):
        for url in getattr(proposal, key):
            err.print(f"{label}: {escape(url)}", overflow="ignore", crop=False)
    err.print(
        f"article URLs sampled: {len(proposal.samples)}; pattern: {escape(proposal.article_pattern or '(none)')}; "
        f"section pages seen: {len(proposal.rejected_seen)}, accepted by the pattern: "
        f"{len(proposal.pattern_accepts_pages)}"
    )
    for a in proposal.articles:
        err.print(
            f"extracted: {escape(a['title'] or '?')} ({a.get('published') or 'no date'}, {a.get('word_count')} words, "
            f"{a.get('language')})",
            overflow="ignore",
            crop=False,
        )
    entry = proposal.toml()
    parse_registry(entry, "the proposed entry")  # what is printed always loads
    click.echo(entry, nl=False)
    if write:
        path = Path(sources_file)
        before = path.read_text("utf-8") if path.exists() else ""
        path.write_text(before + ("\n" if before and not before.endswith("\n\n") else "") + entry, "utf-8")
        try:
            load_registry(path)
        except RegistryError:
            path.write_text(before, "utf-8")
            raise
        err.print(f"appended {proposal.id!r} to {path}")


@sources.command("check")
@click.argument("source_ids", nargs=-1, metavar="[SOURCE...]")
@sources_option
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE", help="Any Scrapy setting.")
@output_options
@click.option("-v", "--verbose", count=True, help="Show Scrapy's log.")
def sources_check(source_ids, sources_file, settings, fmt, verbose):
    """Probe sources live: each configured URL's answer, entries, newest entry and how many the
    pattern accepts, one article extracted, and what to fix. Writes nothing.

    Needs the outlets to be reachable (an online machine). Exits 1 when a source yields nothing.

    \b
    Example:
        ccnews sources check radar-pekalongan
        ccnews sources check --json > check.json
    """
    from crawler.check import source_report
    from crawler.runner import crawl_settings, run_crawl

    registry = load_registry(sources_file)
    ids = list(source_ids) or list(registry)
    unknown = [s for s in ids if s not in registry]
    if unknown:
        raise click.ClickException(f"unknown source {unknown[0]!r}; known: {', '.join(registry)}")
    overrides = {"LOG_LEVEL": ["CRITICAL", "INFO", "DEBUG"][min(verbose, 2)], "CCNEWS_ONE_LINE_ERRORS": not verbose,
                 **_parse_settings(settings)}
    s = crawl_settings(sources_file=sources_file, overrides=overrides, probe=True)
    summaries = run_crawl(ids, s)
    reports = [source_report(registry[sid], summaries.get(sid)) for sid in ids]
    bad = sum(not r["ok"] for r in reports)
    if fmt == "json":
        print_rows(reports, [], fmt)
    else:
        # One row per URL asked (configured or discovered) of each source.
        rows = [
            {
                "source": r["source"],
                "ok": "yes" if r["ok"] else "no",
                "url": u.get("url", "-"),
                "found": "configured" if u.get("configured", True) else "discovered",
                "answer": u.get("status", "") if u.get("ok", True) else u.get("problem", ""),
                "entries": u.get("entries", ""),
                "newest": (u.get("newest") or "")[:10],
                "accepts": f"{u['accepted']} of {u['on_site']}"
                if u.get("on_site") is not None and "accepted" in u
                else "",
            }
            for r in reports
            for u in (r["urls"] or [{}])
        ]
        print_rows(rows, [Column("source", kind="short"), Column("ok", kind="short"), Column("url", "URL", kind="url"),
                          Column("found", kind="short"), Column("answer"), Column("entries", kind="short"),
                          Column("newest", kind="short"), Column("accepts", "pattern accepts", kind="short")],
                   fmt, console=out)
        for r in reports:
            if r["title"]:
                err.print(f"{r['source']}: extracted \"{escape(r['title'])}\"", overflow="ignore", crop=False)
            for p in r["problems"]:
                err.print(f"[red]{r['source']}: {escape(p)}[/red]", overflow="ignore", crop=False)
            for s_ in r["suggestions"]:
                err.print(f"{r['source']}: suggestion: {escape(s_)}", overflow="ignore", crop=False)
    if bad:
        raise click.ClickException(f"{bad} of {len(ids)} source(s) yielded no article")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it local, or put "
              "a reverse proxy with authentication in front: the page has none).")
@click.option("--port", type=click.IntRange(1, 65535), default=8377, show_default=True, help="Port to listen on.")
@click.option("--read-only", is_flag=True, help="No changes from the page: collections can be read and exported, "
              "not created, changed or deleted.")
@data_dir_option
@sources_option
def serve(host, port, read_only, data_dir, sources_file):
    """Serve a web page to search, read, chart and collect the archive, with a JSON API.

    The same query language and filters as `ccnews search`; facets with counts, a timeline of the
    query (per day, week, month or year, per source or city, with its CSV), copies grouped under
    their story, articles with their captured pages (in a sandbox), collections, sources and runs.
    The page's state is in its URL. /api/search, /api/articles/ID, /api/timeline,
    /api/collections, /api/sources and /api/runs answer JSON (see the README).

    \b
    Example:
        ccnews serve --data-dir ./ccnews-data      # then open http://127.0.0.1:8377/
        ccnews serve --read-only --port 8080
    """
    from werkzeug.serving import make_server

    from ccnews.web import create_app

    data = resolve_data_dir(data_dir)
    _open_archive(data).close()  # a clear error now when there is no archive
    registry = load_registry(sources_file)
    try:
        server = make_server(host, port, create_app(data, registry, read_only=read_only), threaded=True)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning: listening on {host}: the page has no authentication; anyone who can reach "
                  "this address can read the archive" + ("" if read_only else " and change its collections (see "
                  "--read-only)") + "[/yellow]")
    # One line, never wrapped: the address is copied from it.
    err.print(f"serving {escape(str(data))} at http://{host}:{server.server_port}/ (Ctrl-C stops)", soft_wrap=True)
    server.serve_forever()  # werkzeug's returns on Ctrl-C (it takes the KeyboardInterrupt itself)
    click.echo("interrupted", err=True)
    sys.exit(130)


# -- demo ----------------------------------------------------------------------------------------


def _demo_backfill(data: Path, registry_file: Path, cdx: str):

    from crawler.backfill import ArchiveEndpoint, backfill
    from indexer import catch_up

    registry = load_registry(registry_file)
    with _open_archive(data) as archive:
        counts = backfill(archive, registry, ["demo-outlet"], ArchiveEndpoint.from_cdx(cdx, delay=0.0),
                          date(2014, 1, 1), date(2020, 12, 31), processes=0)["demo-outlet"]
        catch_up(archive, data)
    return counts


@cli.command()
@click.option("--query", default='"Chiang Mai" Pekalongan', show_default=True, help="The sample search.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default="ccnews-demo-data",
              show_default=True, help="Where the demo's archive goes (never $CCNEWS_DATA: the demo stays out of a "
              "real archive).")
def demo(query, data_dir):
    """Serve two bundled demo sites on 127.0.0.1, crawl them, and run a sample search.

    \b
    Example:
        ccnews demo --data-dir /tmp/ccnews-demo
    """
    from ccnews.demo import start_demo_sites, write_registry
    from crawler.runner import crawl_settings, run_crawl
    from indexer import search as run_search

    data = resolve_data_dir(data_dir)
    # The demo sites' files are needed only while they are served.
    with tempfile.TemporaryDirectory(prefix="ccnews-demo-sites-") as sites:
        outlet, city, web_archive = start_demo_sites(sites)
        try:
            registry_file = write_registry(data / "demo-sources.toml", outlet, city)
            err.print(f"demo outlet at {outlet.base}, demo city site at {city.base}, "
                      f"demo web archive at {web_archive.cdx}")
            err.print(f"crawling into {data} (registry {registry_file})")
            _open_archive(data, create=True).close()
            s = crawl_settings(data_dir=data, sources_file=registry_file,
                               overrides={"LOG_LEVEL": "WARNING", "AUTOTHROTTLE_START_DELAY": 0.05,
                                          "CCNEWS_ONE_LINE_ERRORS": True})
            summaries = run_crawl(["demo-outlet", "demo-city"], s, progress=_progress_printer())
            _print_summary(summaries)
            _end_of_crawl(["demo-outlet", "demo-city"], summaries,
                          interrupted="interrupted; what was crawled is in the archive")
            err.print("backfilling demo-outlet's 2016 pages from the web archive (its former domain)")
            past = _demo_backfill(data, registry_file, web_archive.cdx)
        finally:
            outlet.stop()
            city.stop()
            web_archive.stop()
    err.print(f"from the web archive: {past['listed']} capture(s) listed, {past['new']} new article(s)")
    out.print(f"\n[bold]ccnews search {escape(query)}[/bold]")
    with _open_archive(data) as archive:
        hits = run_search(data, query, archive=archive, limit=10).hits
    for h in hits:
        date = h.published.date().isoformat() if h.published else "----------"
        out.print(f"{date}  {h.source:<12} {escape(h.title)}\n            {h.url}")
        for c in h.copies:
            out.print(f"            [dim]copy: {escape(c['source'])} {c['url']}[/dim]")
    import shlex

    where = shlex.quote(str(data))
    err.print("\ntry:")
    for line in (f"ccnews search --data-dir {where} batik --sort date",
                 f"ccnews search --data-dir {where} 'เมืองสร้างสรรค์ เชียงใหม่' --lang th",
                 f"ccnews show --data-dir {where} {hits[0].id if hits else 1}"):
        err.print(f"  {escape(line)}", soft_wrap=True)  # whole, to copy and paste
