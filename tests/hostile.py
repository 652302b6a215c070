"""A fixture site whose answers are built to hurt a crawler: huge bodies, a gzip bomb, a hang, an
endless calendar, a 100,000-link listing. Test-only: it is not part of the installed package.

Routes are those of `ccnews.sites.SiteServer`, plus {"hostile": {"kind": ...}} ones answered here.
The bombs are compressed before the server starts (`prepare`), so a request is answered at once
rather than after seconds of compressing, and a test measures the crawler, not the fixture.
"""

from __future__ import annotations

import threading
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from ccnews.sites import SiteServer, _send


def gzip_bomb(size: int) -> bytes:
    """A small gzip body that inflates to `size` bytes of zeros after a little HTML."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    zeros = b"\0" * (1 << 20)
    out = [z.compress(b"<html><body>")]
    for _ in range(size >> 20):
        out.append(z.compress(zeros))
    out.append(z.flush())
    return b"".join(out)


class HostileServer(SiteServer):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.bombs: dict[int, bytes] = {}

    def prepare(self) -> HostileServer:
        for route in self.routes.values():
            spec = route.get("hostile") or {}
            if spec.get("kind") == "gzip_bomb" and spec["size"] not in self.bombs:
                self.bombs[spec["size"]] = gzip_bomb(spec["size"])
        return self

    def start(self) -> HostileServer:
        self.prepare()
        return super().start()

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        key = parts.path + (f"?{parts.query}" if parts.query else "")
        route = self.routes.get(key) or (self.routes.get(parts.path) if parts.query else None)
        if route is None or "hostile" not in route:
            super()._handle(req)
            return
        self.requests.append((key, "GET", 200))
        _hostile(req, route["hostile"], parts.query, self.stopping, self.bombs)


def _hostile(req: BaseHTTPRequestHandler, spec: dict[str, Any], query: str, stopping: threading.Event,
             bombs: dict[int, bytes]) -> None:
    """Answers built to hurt a crawler, the big ones streamed so the server stays small."""
    kind = spec["kind"]
    try:
        if kind == "huge":  # a body of `size` bytes, streamed; with or without Content-Length
            req.send_response(200)
            req.send_header("Content-Type", "text/html; charset=utf-8")
            if spec.get("length", True):
                req.send_header("Content-Length", str(spec["size"]))
            req.send_header("Connection", "close")
            req.end_headers()
            chunk = b"<p>" + b"batik " * 10_000 + b"</p>\n"
            sent = 0
            while sent < spec["size"] and not stopping.is_set():
                req.wfile.write(chunk)
                sent += len(chunk)
        elif kind == "gzip_bomb":  # a small gzip body that inflates to `size` bytes
            body = bombs[spec["size"]]
            req.send_response(200)
            req.send_header("Content-Type", "text/html; charset=utf-8")
            req.send_header("Content-Encoding", "gzip")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.write(body)
        elif kind == "hang":  # headers and a little body, then nothing, ever
            req.send_response(200)
            req.send_header("Content-Type", "text/html; charset=utf-8")
            req.send_header("Content-Length", "100000")
            req.end_headers()
            req.wfile.write(b"<html><body><p>Sebentar")
            req.wfile.flush()
            stopping.wait(600)
        elif kind == "calendar":  # every page links to the next day, forever
            n = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("page", "1"))
            body = (f'<html><body><h1>Agenda {n}</h1><a href="?page={n + 1}">Berikutnya</a>'
                    f'<a href="/agenda/{n}/acara-budaya-hari-ke-{n}">Acara</a></body></html>').encode()
            _send(req, 200, body, "text/html; charset=utf-8")
        elif kind == "links":  # a listing with `count` links
            links = "".join(
                f'<a href="/arsip/{i}/berita-lama-nomor-{i}">Berita {i}</a>\n' for i in range(spec["count"])
            )
            _send(req, 200, f"<html><body>{links}</body></html>".encode(), "text/html; charset=utf-8")
        else:
            _send(req, 500, b"unknown hostile kind", "text/plain")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the crawler hung up, as it should
