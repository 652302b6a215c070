"""Timelines of matching articles: periods filled in, a terminal bar chart, CSV and PNG."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# Up to this many periods a PNG has bars; beyond, bars are thinner than a pixel.
BARS_UP_TO = 120


def describe(text: str, filters: Any, by: str, stories: bool) -> str:
    """The chart's title: the query and every filter that shaped it."""
    label = (text if '"' in text else f'"{text}"') if text else "all articles"
    parts = [f"Articles matching {label}" if text else "All articles"]
    if filters.sources:
        parts.append("from " + ", ".join(filters.sources))
    if filters.cities:
        parts.append("mentioning " + " or ".join(filters.cities))
    if filters.fields:
        parts.append("in " + " or ".join(filters.fields))
    if filters.language:
        parts.append(f"in language {filters.language}")
    if filters.min_relevance is not None:
        parts.append("about creative-city work")
    if filters.since or filters.until:
        since = filters.since.date().isoformat() if filters.since else "the start"
        until = filters.until.date().isoformat() if filters.until else "today"
        parts.append(f"from {since} to {until}")
    return " ".join(parts) + f", per {by}" + (" (stories counted once)" if stories else "")


def periods_between(first: str, last: str, by: str) -> list[str]:
    """Every period label from `first` to `last`, so quiet months show as zero."""
    out = []
    if by == "year":
        return [str(y) for y in range(int(first), int(last) + 1)]
    if by == "month":
        y, m = map(int, first.split("-"))
        ly, lm = map(int, last.split("-"))
        while (y, m) <= (ly, lm):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out
    step = timedelta(days=7 if by == "week" else 1)
    d, end = date.fromisoformat(first), date.fromisoformat(last)
    while d <= end:
        out.append(d.isoformat())
        d += step
    return out


def table(rows: list[dict[str, Any]], by: str) -> tuple[list[str], dict[str, dict[str, int]]]:
    """(periods, {series: {period: count}}) from `Archive.counts_over_time` rows; the single series
    is "articles" when the rows have no series."""
    if not rows:
        return [], {}
    periods = periods_between(rows[0]["period"], max(r["period"] for r in rows), by)
    series: dict[str, dict[str, int]] = {}
    for r in rows:
        name = r.get("series") or "articles"
        series.setdefault(name, {})[r["period"]] = r["articles"]
    return periods, series


def bars(periods: list[str], series: dict[str, dict[str, int]], width: int = 50, by: str = "month") -> list[str]:
    """One line per period; a run of three or more empty periods is one line saying so (a day-by-day
    timeline over years would otherwise be thousands of zeros)."""
    totals = {p: sum(s.get(p, 0) for s in series.values()) for p in periods}
    top = max(totals.values() or [0]) or 1
    lines: list[str] = []
    empty: list[str] = []

    def flush() -> None:
        if len(empty) >= 3:
            lines.append(f"{'':>10} … {len(empty)} {by}s with none, {empty[0]} to {empty[-1]}")
        else:
            lines.extend(f"{p:>10} {'':<{width}} 0" for p in empty)
        empty.clear()

    for p in periods:
        n = totals[p]
        if not n:
            empty.append(p)
            continue
        flush()
        bar = "█" * max(1, round(n / top * width))
        detail = ""
        if len(series) > 1:
            detail = "  (" + ", ".join(f"{k} {v[p]}" for k, v in series.items() if v.get(p)) + ")"
        lines.append(f"{p:>10} {bar:<{width}} {n}{detail}")
    flush()
    return lines


def write_csv(path: Path, periods: list[str], series: dict[str, dict[str, int]], kind: str | None) -> None:
    from ccnews.output import atomic_text

    with atomic_text(path) as fh:
        csv_rows(fh, periods, series, kind)


def csv_rows(fh: Any, periods: list[str], series: dict[str, dict[str, int]], kind: str | None) -> None:
    """The counts as CSV: period,articles, or period,<kind>,articles with one series per source or city."""
    from ccnews.output import neutralise

    w = csv.writer(fh)
    if kind:
        w.writerow(["period", kind, "articles"])
        for p in periods:
            for name, counts in series.items():
                w.writerow([p, neutralise(name), counts.get(p, 0)])
    else:
        w.writerow(["period", "articles"])
        for p in periods:
            w.writerow([p, series.get("articles", {}).get(p, 0)])


def count(archive: Any, data_dir: Path, text: str, filters: Any, by: str, series: str | None = None,
          stories: bool = False) -> tuple[list[str], dict[str, dict[str, int]], int]:
    """The timeline of a query and filters, as `ccnews timeline` and the web page draw it:
    (every period from the first to the last, {series: {period: count}}, undated matches)."""
    from crawler.dates import to_utc_text
    from indexer import matching_ids

    if text or filters.cities or filters.fields or filters.min_relevance is not None:
        ids = matching_ids(data_dir, text or "*", filters, ordered=False)
    else:  # no words: the archive answers alone, so a timeline never needs the index
        ids = [r["id"] for r in archive.select_articles(
            sources=list(filters.sources) or None, language=filters.language, columns=["id"],
            since=to_utc_text(filters.since) if filters.since else None,
            until=to_utc_text(filters.until) if filters.until else None)]
    rows, undated = archive.counts_over_time(ids, by, series, one_per_group=stories)
    periods, counts = table(rows, by)
    return periods, counts, undated


def write_png(path: Path, periods: list[str], series: dict[str, dict[str, int]], title: str, by: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5), dpi=120)
    x = range(len(periods))
    names = list(series)
    stacks = [[series[name].get(p, 0) for p in periods] for name in names]
    labels = names if len(series) > 1 else [None]
    if len(periods) <= BARS_UP_TO:
        bottom = [0] * len(periods)
        for label, values in zip(labels, stacks):
            ax.bar(x, values, bottom=bottom, label=label, width=0.85)
            bottom = [b + v for b, v in zip(bottom, values)]
    else:
        # Hundreds of bars are each thinner than a pixel and most vanish: a stem with a dot for
        # every period that has articles (stacked by series), so one article on one day shows.
        bottom = [0] * len(periods)
        for n, (label, values) in enumerate(zip(labels, stacks)):
            top = [b + v for b, v in zip(bottom, values)]
            hit = [i for i, v in enumerate(values) if v]
            ax.vlines(hit, [bottom[i] for i in hit], [top[i] for i in hit], linewidth=1.2, color=f"C{n}")
            ax.plot(hit, [top[i] for i in hit], "o", markersize=3.5, color=f"C{n}", label=label)
            bottom = top
        ax.set_xlim(-1, len(periods))
        ax.set_ylim(bottom=0)
    step = max(1, len(periods) // 16)
    ax.set_xticks(list(x)[::step])
    ax.set_xticklabels(periods[::step], rotation=45, ha="right")
    ax.set_xlabel({"day": "Day", "week": "Week (starting Monday)", "month": "Month", "year": "Year"}[by])
    ax.set_ylabel("Articles")
    ax.set_title(title)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(title="Source", fontsize="small")
    from ccnews.output import atomic_path

    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
