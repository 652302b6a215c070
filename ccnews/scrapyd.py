"""Submitting due sources to Scrapyd daemons (its JSON API: schedule.json, listjobs.json).

Scrapyd reports a crawl that archived nothing as "finished"; ccnews never reads outcomes from it.
The crawl itself records its run in the archive (with Scrapyd's job id) and its outcome is judged
from the crawl's own stats, as for any other run.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from archive import Archive
from archive.db import now_iso
from archive.errors import CcnewsError

PROJECT = "ccnews"
SPIDER = "news"
TIMEOUT_S = 15


class ScrapydError(CcnewsError):
    """A daemon could not be reached or refused a request (shown as one line)."""


def _request(url: str, data: dict[str, Any] | list[tuple[str, str]] | None = None) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    headers = {}
    if parts.username:
        token = base64.b64encode(
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}".encode()
        ).decode()
        headers["Authorization"] = f"Basic {token}"
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 - the user's own daemons
            answer = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise ScrapydError(f"Scrapyd at {parts.hostname}:{parts.port} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ScrapydError(
            f"cannot reach Scrapyd at {parts.hostname}:{parts.port}: {getattr(exc, 'reason', exc)}"
        ) from None
    if answer.get("status") != "ok":
        raise ScrapydError(f"Scrapyd at {parts.hostname}:{parts.port}: {answer.get('message', answer)}")
    return answer


def list_jobs(daemon: str) -> dict[str, list[dict[str, Any]]]:
    return _request(f"{daemon}/listjobs.json?project={PROJECT}")


def submit_due(archive: Archive, data_dir: Path, sources: list[str], daemons: list[str],
               sources_file: Path | None) -> list[dict[str, Any]]:
    """Submit each source unless a job of it is pending or running on any daemon; spread the jobs
    over the daemons, least busy first. Returns what was submitted."""
    ours = {r["job"]: r["source"] for r in archive.db.query("select job, source from scrapyd_jobs")}
    load: dict[str, int] = {}
    busy: set[str] = set()
    for daemon in daemons:
        jobs = list_jobs(daemon)
        active = jobs.get("pending", []) + jobs.get("running", [])
        load[daemon] = len(active)
        busy |= {ours[j["id"]] for j in active if j.get("id") in ours}
    submitted = []
    for source in sources:
        if source in busy:
            continue
        daemon = min(daemons, key=lambda d: load[d])
        params = [("project", PROJECT), ("spider", SPIDER), ("source", source),
                  ("setting", f"ARCHIVE_DATA_DIR={Path(data_dir).resolve()}")]
        if sources_file:
            params.append(("setting", f"CCNEWS_SOURCES={Path(sources_file).resolve()}"))
        answer = _request(f"{daemon}/schedule.json", params)
        job = answer["jobid"]
        with archive.transaction():
            archive.db["scrapyd_jobs"].insert({"job": job, "source": source, "daemon": daemon, "submitted": now_iso()})
        load[daemon] += 1
        submitted.append({"source": source, "job": job, "daemon": daemon})
    return submitted
