"""`ccnews serve`: a web page to search, read, chart and collect the archive (Flask and Jinja).

Flask because it is the smallest well-kept framework with templating, a test client and a
development server that needs no build step; Flask-WTF for the cross-site-request token of every
form that writes (the well-kept way to do it in Flask). Every asset is in `static/`, so the page
works on a machine with no internet, and no page carries JavaScript. The page's state lives in its
URL (a search is a GET form), so a search can be bookmarked and shared.

Everything here is a thin layer over what the command line calls: `ccnews.queries` (search,
sources), `ccnews.timeline`, `ccnews.collections` and `archive.collections`, `Archive`. The JSON
API under /api/ returns the same objects as the commands' --json.

Archived pages are hostile input. Values from them are escaped by Jinja; an archived URL is a link
only when it is http(s); every page is served with a Content-Security-Policy that runs no script;
a raw captured page is shown only inside `<iframe sandbox>` and served with a policy that forbids
scripts and every load, so it reaches nothing.
"""

from __future__ import annotations

import io
import json
import math
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, flash, jsonify, redirect, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup, escape

from archive import Archive
from archive.errors import CcnewsError

PER_PAGE = 20
PERIODS = ("year", "month", "week", "day")
SERIES = ("source", "city")
EXPORT_FORMATS = {"csv": "text/csv", "json": "application/json", "ndjson": "application/x-ndjson"}
# Colour-blind-safe (Okabe and Ito), then grey for the series folded into "other".
PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"]
MAX_SERIES = 7
# Our own pages: no script at all, nothing from elsewhere, frames only from here.
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'self'")
# A captured page: its inline styles, nothing else (no script, no image, font or frame from
# anywhere, no form), sandboxed even if opened on its own.
RAW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; sandbox"


def marked(snippet: str) -> Markup:
    """A snippet whose **matches** become <mark>, everything else escaped."""
    parts = str(escape(snippet)).split("**")
    return Markup("".join(f"<mark>{p}</mark>" if i % 2 else p for i, p in enumerate(parts)))


def web_href(url: str | None) -> str:
    """An archived URL as a link target only when it is http(s): an archived page's address never
    becomes a javascript: or data: link (Jinja escapes the rest)."""
    return url if url and url.lower().startswith(("http://", "https://")) else "#"


def chart(periods: list[str], series: dict[str, dict[str, int]], width: int = 760, height: int = 170) -> dict:
    """A bar chart of a timeline as shapes for the template's SVG: one stacked bar per period, one
    colour per series (the largest seven, then "other")."""
    names = sorted(series, key=lambda n: (-sum(series[n].values()), n))
    if len(names) > MAX_SERIES + 1:
        rest = names[MAX_SERIES:]
        series = {**{n: series[n] for n in names[:MAX_SERIES]},
                  "other": {p: sum(series[n].get(p, 0) for n in rest) for p in periods}}
        names = names[:MAX_SERIES] + ["other"]
    colours = {n: ("#999999" if n == "other" else PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)}
    totals = [sum(series[n].get(p, 0) for n in names) for p in periods]
    top = max(totals, default=0) or 1
    left, base, plot = 36, height - 24, height - 40
    slot = (width - left) / max(1, len(periods))
    bars = []
    for i, p in enumerate(periods):
        y = float(base)
        for n in names:
            v = series[n].get(p, 0)
            if not v:
                continue
            h = v / top * plot
            y -= h
            bars.append({"x": round(left + i * slot + slot * 0.1, 2), "y": round(y, 2),
                         "w": round(max(slot * 0.8, 0.6), 2), "h": round(h, 2), "fill": colours[n],
                         "label": f"{p}: {v}" + (f" ({n})" if n != "articles" else "")})
    every = max(1, math.ceil(len(periods) / 12))
    labels = [{"x": round(left + (i + 0.5) * slot, 2), "text": p} for i, p in enumerate(periods) if i % every == 0]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "top": top, "base": base,
            "left": left, "legend": [(n, colours[n]) for n in names] if names != ["articles"] else []}


def create_app(data_dir: Path, registry: dict[str, Any] | None = None, read_only: bool = False) -> Flask:
    from indexer import keep_warm

    app = Flask(__name__)
    app.config.update(
        DATA_DIR=Path(data_dir), REGISTRY=registry or {}, READ_ONLY=read_only, PER_PAGE=PER_PAGE,
        # A new secret at every start: forms of an earlier run of the server are refused.
        SECRET_KEY=secrets.token_bytes(32), WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_HTTPONLY=True,
    )
    app.json.ensure_ascii = False  # Thai and Indonesian as they are written

    @app.before_request
    def read_only_refuses_writes() -> None:
        # Registered before the CSRF check, so a read-only server says why whatever the form.
        if app.config["READ_ONLY"] and request.method not in ("GET", "HEAD", "OPTIONS"):
            writable()

    CSRFProtect(app)
    keep_warm(data_dir)  # one searcher kept open, reopened when a crawl or reindex changes the index
    app.jinja_env.filters["marked"] = marked
    app.jinja_env.filters["href"] = web_href

    def data() -> Path:
        return app.config["DATA_DIR"]

    def open_archive() -> Archive:
        return Archive(data(), create=False)

    def form(src: Any = None) -> dict[str, Any]:
        a = src if src is not None else request.args
        by = a.get("by", "year")
        return {
            "q": a.get("q", "").strip(), "source": a.getlist("source"), "city": a.getlist("city"),
            "field": a.getlist("field"), "lang": a.get("lang", "").strip(), "since": a.get("since", "").strip(),
            "until": a.get("until", "").strip(), "relevant": a.get("relevant") == "1",
            "sort": "date" if a.get("sort") == "date" else "relevance",
            "page": max(1, a.get("page", 1, type=int) or 1),
            "by": by if by in PERIODS else "year", "series": a.get("series") if a.get("series") in SERIES else "",
        }

    def searching(f: dict[str, Any]) -> bool:
        return any(f[k] for k in ("q", "source", "city", "field", "lang", "since", "until", "relevant"))

    def link(f: dict[str, Any], path: str = "", **change: Any) -> str:
        """This page's URL with some of its state changed (a facet toggled, another page)."""
        state = {**f, **change}
        pairs = [(k, v) for k in ("q", "lang", "since", "until", "sort", "by", "series") if (v := state[k]) and
                 not (k == "sort" and v == "relevance") and not (k == "by" and v == "year")]
        pairs += [(k, v) for k in ("source", "city", "field") for v in state[k]]
        if state["relevant"]:
            pairs.append(("relevant", "1"))
        if state["page"] > 1:
            pairs.append(("page", state["page"]))
        return path + "?" + urlencode(pairs)

    def toggled(f: dict[str, Any], key: str, value: str) -> str:
        values = [v for v in f[key] if v != value] if value in f[key] else [*f[key], value]
        return link(f, **{key: values, "page": 1})

    def filters_of(f: dict[str, Any]):
        from ccnews.filters import make_filters

        return make_filters(data(), sources=f["source"], since=f["since"] or None, until=f["until"] or None,
                            lang=f["lang"] or None, cities=f["city"], fields=f["field"], relevant=f["relevant"])

    def collection_names() -> list[str]:
        from archive import collections as store

        with open_archive() as archive:
            return [c["name"] for c in store.listing(archive)]

    app.jinja_env.globals.update(link=link, toggled=toggled, read_only=lambda: app.config["READ_ONLY"],
                                 periods=PERIODS, series_kinds=SERIES)

    @app.after_request
    def policies(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    # -- search ------------------------------------------------------------------------------------

    def timeline_of(f: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, int]], int]:
        """The timeline of this page's query and filters, as `ccnews timeline` counts it."""
        from ccnews import timeline as tl

        filters = filters_of(f)
        with open_archive() as archive:
            return tl.count(archive, data(), f["q"], filters, f["by"], f["series"] or None)

    @app.get("/")
    def index():
        from ccnews import queries
        from ccnews import timeline as tl
        from indexer import matching_ids

        f = form()
        context: dict[str, Any] = {"f": f, "error": None, "page": None}
        if searching(f):
            try:
                filters = filters_of(f)
                with open_archive() as archive:
                    per_page = app.config["PER_PAGE"]
                    page = queries.search(archive, data(), f["q"] or "*", filters, limit=per_page,
                                          offset=(f["page"] - 1) * per_page, sort=f["sort"])
                    ids = matching_ids(data(), f["q"] or "*", filters, ordered=False)
                    # Facets, story count and timeline in one pass over the matches (Whoosh's
                    # total is an estimate, and counts copies).
                    summary = archive.summary(ids, f["by"], f["series"] or None)
                    facets = summary["facets"]
                    page.update(total=summary["stories"], articles=len(ids),
                                more=page["offset"] + len(page["hits"]) < summary["stories"])
                    periods, series = tl.table(summary["timeline"], f["by"])
                    undated = summary["undated"]
            except CcnewsError as exc:
                context["error"] = str(exc)
            else:
                context.update(page=page, facets=facets, first=(f["page"] - 1) * per_page + 1, undated=undated,
                               chart=chart(periods, series),
                               collections=[] if app.config["READ_ONLY"] else collection_names())
        return render_template("search.html", **context)

    @app.get("/export.csv")
    def export_csv():
        from indexer import matching_ids

        f = form()
        try:
            ids = matching_ids(data(), f["q"] or "*", filters_of(f),
                               sort="date" if f["sort"] == "date" else "relevance")
        except CcnewsError as exc:
            return Response(str(exc) + "\n", status=400, mimetype="text/plain")
        return rows_response(ids, "csv", "ccnews-search")

    @app.get("/timeline.csv")
    def timeline_csv():
        from ccnews import timeline as tl

        f = form()
        try:
            periods, series, _undated = timeline_of(f)
        except CcnewsError as exc:
            return Response(str(exc) + "\n", status=400, mimetype="text/plain")
        out = io.StringIO()
        tl.csv_rows(out, periods, series, f["series"] or None)
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="ccnews-timeline-{f["by"]}.csv"'})

    def rows_response(ids: list[int], fmt: str, name: str) -> Response:
        from ccnews.output import EXPORT_COLUMNS, write_rows

        out = io.StringIO()
        with open_archive() as archive:
            write_rows(out, archive.select_articles(ids=ids, columns=EXPORT_COLUMNS), fmt)
        return Response(out.getvalue(), mimetype=EXPORT_FORMATS[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})

    # -- articles and their captured pages -------------------------------------------------------

    def article_record(article_id: int) -> dict[str, Any]:
        with open_archive() as archive:
            try:
                record = archive.article_details(article_id, versions=True)
            except CcnewsError as exc:
                abort(404, str(exc))
            record["raw_pages"] = archive.raw_page_list(article_id)
        return record

    @app.get("/article/<int:article_id>")
    def article(article_id: int):
        record = article_record(article_id)
        return render_template("article.html", a=record, f=form(),
                               collections=[] if app.config["READ_ONLY"] else collection_names())

    @app.get("/raw/<int:article_id>/<int:page_no>")
    @app.get("/raw/<int:article_id>/<int:page_no>/v<int:version_id>")
    def raw(article_id: int, page_no: int, version_id: int | None = None):
        """The stored bytes of one captured page, served so that nothing in them runs or loads."""
        with open_archive() as archive:
            page = archive.raw_page(article_id, page_no, version_id)
        if page is None:
            abort(404)
        ctype = (page.get("content_type") or "").split(";")[0].strip().lower()
        mimetype = ctype if ctype in ("text/html", "application/xhtml+xml") else "text/plain"
        encoding = page.get("encoding") or ""
        if encoding and not all(c.isalnum() or c in "-_" for c in encoding):
            encoding = ""
        response = Response(page["body"], content_type=mimetype + (f"; charset={encoding}" if encoding else ""))
        response.headers["Content-Security-Policy"] = RAW_CSP
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    # -- collections -------------------------------------------------------------------------------

    def writable() -> None:
        if app.config["READ_ONLY"]:
            abort(403, "this server is read-only (ccnews serve --read-only): collections cannot be changed here")

    def back(default: str) -> Any:
        target = request.form.get("next") or default
        # Only a path of this site: never an open redirect.
        return redirect(target if target.startswith("/") and not target.startswith("//") else default, code=303)

    @app.get("/collections")
    def collections():
        from archive import collections as store

        with open_archive() as archive:
            rows = store.listing(archive)
        return render_template("collections.html", rows=rows, f=form())

    @app.post("/collections")
    def collection_create():
        from ccnews import collections as colls

        writable()
        f = form(request.form)
        name = request.form.get("name", "").strip()
        try:
            with open_archive() as archive:
                n = colls.create(archive, data(), name, f["q"] or None, filters_of(f),
                                 request.form.get("description", "").strip() or None)
        except CcnewsError as exc:
            flash(str(exc), "error")
            return back("/collections")
        flash(f"collection {name!r} created with {n} article(s)", "ok")
        return redirect(f"/collections/{name}", code=303)

    @app.get("/collections/<name>")
    def collection(name: str):
        from archive import collections as store

        with open_archive() as archive:
            try:
                coll = store.get(archive, name)
            except CcnewsError:
                abort(404)
            rows = list(archive.select_articles(ids=store.article_ids(archive, name),
                                                columns=["id", "published", "source", "title", "url"]))
        return render_template("collection.html", c=coll, rows=rows, f=form())

    @app.post("/collections/add")
    @app.post("/collections/<name>/<action>")
    def collection_change(name: str | None = None, action: str = "add"):
        from archive import collections as store
        from ccnews import collections as colls

        writable()
        name = name or request.form.get("collection", "")
        ids = [int(i) for i in request.form.getlist("article_id") if i.isdigit()]
        try:
            with open_archive() as archive:
                if action == "add":
                    flash(f"added {store.add(archive, name, ids)} article(s) to {name!r}", "ok")
                elif action == "remove":
                    flash(f"removed {store.remove(archive, name, ids)} article(s) from {name!r}", "ok")
                elif action == "refresh":
                    flash(f"{colls.refresh(archive, data(), name)} new article(s) in {name!r}", "ok")
                elif action == "delete":
                    store.delete(archive, name)
                    flash(f"deleted collection {name!r} (its articles stay in the archive)", "ok")
                    return redirect("/collections", code=303)
                else:
                    abort(404)
        except CcnewsError as exc:
            flash(str(exc), "error")
        return back(f"/collections/{name}")

    @app.get("/collections/<name>/export.<fmt>")
    def collection_export(name: str, fmt: str):
        from archive import collections as store

        if fmt not in EXPORT_FORMATS:
            abort(404)
        with open_archive() as archive:
            try:
                ids = store.article_ids(archive, name)
            except CcnewsError:
                abort(404)
        return rows_response(ids, fmt, name)

    # -- sources and runs --------------------------------------------------------------------------

    def source_rows() -> list[dict[str, Any]]:
        from ccnews import queries
        from ccnews.scheduler import mark_stale_runs

        with open_archive() as archive:
            mark_stale_runs(archive, data())
            return queries.sources(archive, app.config["REGISTRY"])

    @app.get("/sources")
    def sources():
        return render_template("sources.html", rows=source_rows(), f=form())

    @app.get("/runs")
    def runs():
        from ccnews import queries

        source = request.args.get("source") or None
        with open_archive() as archive:
            rows = [queries.run_row(r) for r in archive.runs(source, limit=100)]
        return render_template("runs.html", rows=rows, source=source, f=form())

    @app.get("/runs/<int:run_id>")
    def run(run_id: int):
        from ccnews import queries

        with open_archive() as archive:
            row = archive.run(run_id)
        if row is None:
            abort(404)
        return render_template("run.html", r=queries.run_row(row), f=form())

    # -- the JSON API: the same objects as the commands' --json ------------------------------------

    def api_error(message: str, status: int) -> Response:
        response = jsonify({"error": message})
        response.status_code = status
        return response

    @app.get("/api/search")
    def api_search():
        from ccnews import queries

        f = form()
        limit = min(max(request.args.get("limit", PER_PAGE, type=int) or PER_PAGE, 1), 1000)
        offset = max(request.args.get("offset", 0, type=int) or 0, 0)
        try:
            with open_archive() as archive:
                return jsonify(queries.search(archive, data(), f["q"] or "*", filters_of(f), limit=limit,
                                              offset=offset, sort=f["sort"],
                                              all_copies=request.args.get("all_copies") == "1"))
        except CcnewsError as exc:
            return api_error(str(exc), 400)

    @app.get("/api/articles/<int:article_id>")
    def api_article(article_id: int):
        return jsonify(article_record(article_id))

    @app.get("/api/timeline")
    def api_timeline():
        f = form()
        try:
            periods, series, undated = timeline_of(f)
        except CcnewsError as exc:
            return api_error(str(exc), 400)
        return jsonify({"by": f["by"], "series_by": f["series"] or None, "periods": periods,
                        "series": {n: [c.get(p, 0) for p in periods] for n, c in series.items()},
                        "undated": undated})

    @app.get("/api/collections")
    def api_collections():
        from archive import collections as store

        with open_archive() as archive:
            return jsonify(store.listing(archive))

    @app.get("/api/collections/<name>")
    def api_collection(name: str):
        from archive import collections as store

        with open_archive() as archive:
            try:
                coll = store.get(archive, name)
            except CcnewsError as exc:
                return api_error(str(exc), 404)
            rows = list(archive.select_articles(ids=store.article_ids(archive, name),
                                                columns=["id", "published", "source", "title", "url"]))
        return jsonify({**coll, "articles": rows})

    @app.get("/api/sources")
    def api_sources():
        return jsonify(source_rows())

    @app.get("/api/runs")
    def api_runs():
        from ccnews import queries

        limit = min(max(request.args.get("limit", 50, type=int) or 50, 1), 1000)
        with open_archive() as archive:
            return jsonify([queries.run_row(r) for r in archive.runs(request.args.get("source") or None, limit)])

    @app.get("/api/runs/<int:run_id>")
    def api_run(run_id: int):
        from ccnews import queries

        with open_archive() as archive:
            row = archive.run(run_id)
        return jsonify(queries.run_row(row)) if row else api_error(f"no run with id {run_id}", 404)

    # -- problems ----------------------------------------------------------------------------------

    @app.errorhandler(CSRFError)
    def stale_form(exc: CSRFError):
        return render_template("message.html", f=form(), status=400,
                               message="This form did not come from this page, or the server was restarted since "
                                       "it was shown: go back, reload the page and try again."), 400

    @app.errorhandler(403)
    @app.errorhandler(404)
    def not_here(exc: Any):
        if request.path.startswith("/api/"):
            return api_error(exc.description, exc.code)
        return render_template("message.html", f=form(), status=exc.code, message=exc.description), exc.code

    @app.errorhandler(CcnewsError)
    def archive_problem(exc: CcnewsError):
        if request.path.startswith("/api/"):
            return api_error(str(exc), 500)
        return render_template("message.html", f=form(), status=500, message=str(exc)), 500

    @app.template_filter("tojson_pretty")
    def tojson_pretty(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)

    return app
