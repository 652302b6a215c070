"""`ccnews serve`: a web page to search, read, chart and download the archive (Flask and Jinja).

Flask because it is the smallest well-kept framework with templating, a test client and a
development server that needs no build step; every asset is in `static/`, so the page works on a
machine with no internet. The page's state lives in its URL (a search is a GET form), so a search
can be bookmarked and shared. All search goes through `indexer.search`, the same query language
and analysis as `ccnews search`; a malformed query or filter is shown inline, in the same words.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, render_template, request
from markupsafe import Markup, escape

from archive import Archive
from archive.errors import CcnewsError

PER_PAGE = 20
EXPORT_COLUMNS = ["id", "url", "source", "title", "published", "language", "authors", "cities", "fields",
                  "relevance", "group_id", "origin"]


def marked(snippet: str) -> Markup:
    """A snippet whose **matches** become <mark>, everything else escaped."""
    parts = str(escape(snippet)).split("**")
    return Markup("".join(f"<mark>{p}</mark>" if i % 2 else p for i, p in enumerate(parts)))


def web_href(url: str | None) -> str:
    """An archived URL as a link target only when it is http(s): an archived page's address never
    becomes a javascript: or data: link (Jinja escapes the rest)."""
    return url if url and url.lower().startswith(("http://", "https://")) else "#"


def create_app(data_dir: Path) -> Flask:
    app = Flask(__name__)
    app.config["DATA_DIR"] = Path(data_dir)
    app.jinja_env.filters["marked"] = marked
    app.jinja_env.filters["href"] = web_href

    def form() -> dict[str, Any]:
        a = request.args
        return {
            "q": a.get("q", "").strip(), "source": a.getlist("source"), "city": a.getlist("city"),
            "field": a.getlist("field"), "lang": a.get("lang", "").strip(), "since": a.get("since", "").strip(),
            "until": a.get("until", "").strip(), "relevant": a.get("relevant") == "1",
            "sort": "date" if a.get("sort") == "date" else "relevance",
            "page": max(1, a.get("page", 1, type=int) or 1),
        }

    def link(f: dict[str, Any], **change: Any) -> str:
        """This page's URL with some of its state changed (a facet toggled, another page)."""
        state = {**f, **change}
        pairs = [(k, v) for k in ("q", "lang", "since", "until", "sort") if (v := state[k]) and
                 not (k == "sort" and v == "relevance")]
        pairs += [(k, v) for k in ("source", "city", "field") for v in state[k]]
        if state["relevant"]:
            pairs.append(("relevant", "1"))
        if state["page"] > 1:
            pairs.append(("page", state["page"]))
        return "?" + urlencode(pairs)

    def toggled(f: dict[str, Any], key: str, value: str) -> str:
        values = [v for v in f[key] if v != value] if value in f[key] else [*f[key], value]
        return link(f, **{key: values, "page": 1})

    app.jinja_env.globals.update(link=link, toggled=toggled)

    def run_search(f: dict[str, Any], limit: int | None):
        from ccnews.filters import make_filters
        from indexer import matching_ids, search

        data = app.config["DATA_DIR"]
        filters = make_filters(data, sources=f["source"], since=f["since"] or None, until=f["until"] or None,
                               lang=f["lang"] or None, cities=f["city"], fields=f["field"], relevant=f["relevant"])
        with Archive(data, create=False) as archive:
            if limit is None:
                ids = matching_ids(data, f["q"] or "*", filters, sort="date" if f["sort"] == "date" else "relevance")
                return list(archive.select_articles(ids=ids, columns=EXPORT_COLUMNS))
            results = search(data, f["q"] or "*", filters, limit=limit, sort=f["sort"], archive=archive)
            ids = matching_ids(data, f["q"] or "*", filters)
            facets = archive.facet_counts(ids)
            rows, undated = archive.counts_over_time(ids, "year")
            behind = archive.count_unindexed()
        return results, facets, rows, undated, behind

    @app.get("/")
    def index():
        f = form()
        context: dict[str, Any] = {"f": f, "error": None, "results": None}
        if f["q"] or f["source"] or f["city"] or f["field"] or f["lang"] or f["since"] or f["until"] or f["relevant"]:
            try:
                results, facets, rows, undated, behind = run_search(f, f["page"] * PER_PAGE)
            except CcnewsError as exc:
                context["error"] = str(exc)
            else:
                hits = results.hits[(f["page"] - 1) * PER_PAGE:]
                top = max((r["articles"] for r in rows), default=0) or 1
                context.update(
                    results=results, hits=hits, facets=facets, undated=undated, behind=behind,
                    timeline=[{"period": r["period"], "n": r["articles"], "share": r["articles"] / top} for r in rows],
                    more=len(results.hits) >= f["page"] * PER_PAGE and results.total > f["page"] * PER_PAGE,
                )
        return render_template("search.html", **context)

    @app.get("/article/<int:article_id>")
    def article(article_id: int):
        with Archive(app.config["DATA_DIR"], create=False) as archive:
            try:
                record = archive.article_details(article_id, versions=True)
            except CcnewsError:
                abort(404)
        if record is None:
            abort(404)
        return render_template("article.html", a=record, f=form())

    @app.get("/export.csv")
    def export_csv():
        from ccnews.output import neutralise

        f = form()
        try:
            rows = list(run_search(f, None))
        except CcnewsError as exc:
            return Response(str(exc) + "\n", status=400, mimetype="text/plain")
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: neutralise(row.get(k)) for k in EXPORT_COLUMNS})
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="ccnews-search.csv"'})

    @app.errorhandler(CcnewsError)
    def archive_problem(exc: CcnewsError):
        return render_template("search.html", f=form(), error=str(exc), results=None), 500

    return app

