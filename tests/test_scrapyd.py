"""A real Scrapyd 1.6 on 127.0.0.1, in its own virtualenv, running the deployed ccnews egg."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlite_utils
from helpers import REPO, Sites, articles, run_ccnews

# Scrapyd 1.6 imports pkg_resources, gone from setuptools 81; setuptools 77+ reads our pyproject.
pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


SCRAPYD_PACKAGES = ["scrapyd==1.6.0", "setuptools>=77,<81", "scrapyd-client>=2,<3"]


def _dependencies() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]


@pytest.fixture(scope="session")
def scrapyd_venv() -> Path:
    """A virtualenv with Scrapyd and ccnews's dependencies, but not ccnews itself: the egg deployed
    to Scrapyd is what runs. Kept between runs, keyed by the dependency list."""
    key = hashlib.sha1(json.dumps([*SCRAPYD_PACKAGES, *_dependencies()]).encode()).hexdigest()[:12]
    venv = Path(os.environ.get("CCNEWS_SCRAPYD_VENV", Path(tempfile.gettempdir()) / f"ccnews-scrapyd-{key}"))
    ready = venv / ".ready"
    if not ready.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *SCRAPYD_PACKAGES, *_dependencies()],
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            if os.environ.get("CI"):
                raise RuntimeError(f"cannot install Scrapyd: {result.stderr[-2000:]}")
            pytest.skip("cannot install Scrapyd here (no package index?)")
        ready.write_text("ok")
    return venv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scrapyd:
    def __init__(self, venv: Path, root: Path):
        self.root = root
        root.mkdir(parents=True)
        self.port = _free_port()
        (root / "scrapyd.conf").write_text(
            "[scrapyd]\nbind_address = 127.0.0.1\n"
            f"http_port = {self.port}\neggs_dir = {root}/eggs\nlogs_dir = {root}/logs\ndbs_dir = {root}/dbs\n"
            "items_dir =\nmax_proc = 2\npoll_interval = 0.5\n")
        self.proc = subprocess.Popen([str(venv / "bin" / "scrapyd")], cwd=root, stdout=open(root / "out.log", "wb"),
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/daemonstatus.json", timeout=2).read()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError((root / "out.log").read_text())

    def get(self, path: str) -> dict:
        return json.loads(urllib.request.urlopen(f"{self.url}/{path}", timeout=10).read())

    def deploy(self, egg: Path) -> dict:
        boundary = uuid.uuid4().hex
        fields = [("project", b"ccnews"), ("version", b"1")]
        body = (
            b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v + b"\r\n"
                for k, v in fields
            )
            + (
                f'--{boundary}\r\nContent-Disposition: form-data; name="egg"; filename="ccnews.egg"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + egg.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        req = urllib.request.Request(f"{self.url}/addversion.json", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return json.loads(urllib.request.urlopen(req, timeout=30).read())

    def wait_finished(self, n: int, timeout: float = 180) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.get("listjobs.json?project=ccnews")
            if len(jobs["finished"]) >= n and not jobs["pending"] and not jobs["running"]:
                return jobs["finished"]
            time.sleep(0.5)
        raise AssertionError(f"jobs did not finish: {jobs}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def egg(scrapyd_venv, tmp_path_factory) -> Path:
    """The project packaged by scrapyd-deploy from the repository root, as a user deploys it."""
    target = tmp_path_factory.mktemp("egg") / "ccnews.egg"
    build = tmp_path_factory.mktemp("build")
    # Build from a copy so the checkout gets no build/ or *.egg-info litter.
    shutil.copytree(
        REPO, build / "src", ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", ".venv")
    )
    result = subprocess.run([str(scrapyd_venv / "bin" / "scrapyd-deploy"), "--build-egg", str(target)],
                            cwd=build / "src", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return target


@pytest.fixture
def daemons(scrapyd_venv, egg, tmp_path):
    ds = [Scrapyd(scrapyd_venv, tmp_path / f"scrapyd{i}") for i in range(2)]
    try:
        for d in ds:
            assert d.deploy(egg)["spiders"] == 1
        yield ds
    finally:
        for d in ds:
            d.stop()


def test_tick_submits_due_sources_to_scrapyd_and_the_archive_fills(daemons, tmp_path):
    sites = Sites(tmp_path / "sites").start()
    try:
        data = tmp_path / "data"
        urls = ",".join(d.url for d in daemons)
        tick = run_ccnews("schedule", "tick", "--scrapyd", urls, data_dir=data, registry=sites.registry)
        assert tick.returncode == 0, tick.stderr
        # Two due sources over two idle daemons: one job each.
        assert daemons[0].url in tick.stderr and daemons[1].url in tick.stderr
        finished = [job for d in daemons for job in d.wait_finished(1)]
        again = run_ccnews("schedule", "tick", "--scrapyd", urls, data_dir=data, registry=sites.registry)
        assert "nothing due" in again.stderr
    finally:
        sites.stop()
    rows = articles(data)
    assert {r["source"] for r in rows} == {"warta-uji", "kota-uji"}
    assert any(r["title"].startswith("Kejar Kota Kreatif") for r in rows)
    db = sqlite_utils.Database(data / "archive.db")
    run_rows = list(db.query("select source, job, outcome from crawl_runs"))
    assert {r["job"] for r in run_rows} == {j["id"] for j in finished}
    assert {r["outcome"] for r in run_rows} == {"ok"}
    # The index was brought up to date by the crawls themselves.
    found = run_ccnews("search", "Icheon", "--json", data_dir=data)
    hits = json.loads(found.stdout)
    state = [(r["id"], r["source"], r["group_id"], r["indexed"], r["title"][:30]) for r in articles(data)]
    logs = "\n".join(line for d in daemons for log in (d.root / "logs").rglob("*.log")
                     for line in log.read_text("utf-8", "replace").splitlines() if "ERROR" in line or "index" in line)
    assert hits and hits[0]["copies"], f"{found.stderr}\n{state}\n{logs[-3000:]}"
    assert "not in the search index" not in found.stderr


def test_scrapyd_finished_is_not_taken_for_success(daemons, tmp_path):
    reg = tmp_path / "dead.toml"
    reg.write_text('[[source]]\nid = "dead"\nname = "Dead"\nhomepage = "http://127.0.0.1:9/"\n'
                   'feeds = ["http://127.0.0.1:9/feed"]\ndelay = 0.0\n')
    data = tmp_path / "data"
    tick = run_ccnews("schedule", "tick", "--scrapyd", daemons[0].url, data_dir=data, registry=reg)
    assert tick.returncode == 0, tick.stderr
    (job,) = daemons[0].wait_finished(1)
    assert job["spider"] == "news"  # Scrapyd lists it among the finished jobs
    failed = json.loads(run_ccnews("runs", "--failed", "--json", data_dir=data, registry=reg).stdout)
    assert [(r["source"], r["job"]) for r in failed] == [("dead", job["id"])]


def test_unreachable_scrapyd_is_one_line(tmp_path):
    reg = tmp_path / "s.toml"
    reg.write_text('[[source]]\nid = "x"\nname = "X"\nhomepage = "http://127.0.0.1:9/"\n')
    result = run_ccnews("schedule", "tick", "--scrapyd", f"http://127.0.0.1:{_free_port()}", data_dir=tmp_path / "d",
                        registry=reg)
    assert result.returncode == 1
    assert "cannot reach Scrapyd" in result.stderr and "Traceback" not in result.stderr
