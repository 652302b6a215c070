"""pytest fixtures: real sites on 127.0.0.1 and one real crawl of them through the `ccnews` command,
for the session. What the tests import is in helpers.py."""

from __future__ import annotations

import pytest
from helpers import FAST, Sites, run_ccnews


@pytest.fixture(scope="session")
def sites(tmp_path_factory):
    s = Sites(tmp_path_factory.mktemp("sites")).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def crawled(sites, tmp_path_factory):
    """The fixture sites crawled once through `ccnews crawl --all`."""
    data = tmp_path_factory.mktemp("data")
    # The servers are shared with other tests: keep the requests of this crawl only.
    before = (len(sites.outlet.requests), len(sites.city.requests))
    result = run_ccnews("crawl", "--all", *FAST, data_dir=data, registry=sites.registry)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"data": data, "result": result, "outlet_requests": sites.outlet.requests[before[0]:],
            "city_requests": sites.city.requests[before[1]:]}
