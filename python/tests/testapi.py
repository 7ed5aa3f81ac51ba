"""A small HTTP/JSON API on 127.0.0.1 for the tests, started and stopped by them.

Collections of records, paged reads (``page``/``per_page``), an incremental filter
(``id_gte``), a traverse filter (``city``), a write endpoint that stores each
``Idempotency-Key`` once, and switches to make it slow, failing or echoing credentials.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class TestApi:
    __test__ = False  # not a test class for pytest

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.delay = 0.0
        # Records whose id is in reject_ids make their write request answer 422.
        self.reject_ids: set[int] = set()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                with api.lock:
                    api.requests.append(
                        ("GET", url.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                if api.delay:
                    time.sleep(api.delay)
                if url.path == "/items":
                    page = int(q.get("page", "1"))
                    per_page = int(q.get("per_page", "10"))
                    with api.lock:
                        rows = list(api.items)
                    if "id_gte" in q:
                        rows = [r for r in rows if r["id"] >= int(q["id_gte"])]
                    if "city" in q:
                        rows = [r for r in rows if r.get("city") == q["city"]]
                    start = (page - 1) * per_page
                    self.reply(200, {"data": rows[start : start + per_page]})
                elif url.path == "/cities":
                    with api.lock:
                        cities = sorted({r["city"] for r in api.items if "city" in r})
                    self.reply(200, {"cities": cities})
                elif url.path == "/denied":
                    # Echoes the credentials it was sent, as a careless API might.
                    self.reply(
                        401, {"error": "bad token", "got": self.headers.get("authorization")}
                    )
                elif url.path == "/broken":
                    self.send_response(200)
                    self.send_header("content-type", "text/html")
                    self.send_header("content-length", "6")
                    self.end_headers()
                    self.wfile.write(b"<html>")
                else:
                    self.reply(404, {"error": "no such path"})

            def do_POST(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                rows = body if isinstance(body, list) else [body]
                key = self.headers.get("idempotency-key", "")
                with api.lock:
                    api.requests.append(
                        ("POST", url.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                    if any(r.get("id") in api.reject_ids for r in rows):
                        self.reply(422, {"error": "rejected"})
                        return
                    if key and key in api.keys:
                        self.reply(200, {"ok": True, "duplicate": True})
                        return
                    api.keys.add(key)
                    api.received.extend(rows)
                self.reply(201, {"ok": True})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, rows: list[dict[str, Any]]) -> None:
        with self.lock:
            self.items.extend(rows)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def config(self, **read: Any) -> dict[str, Any]:
        """A paged read of /items: 10 per page until an empty page."""
        spec = {
            "path": "/items",
            "records": "data",
            "params": {"per_page": 10},
            "paginate": {"type": "page", "param": "page"},
        }
        spec.update(read)
        return {"source": {"name": "testapi", "url": self.url, "retries": 0}, "read": spec}

    def write_config(self, **write: Any) -> dict[str, Any]:
        spec = {"path": "/sink", "mode": "batch", "batch_size": 10}
        spec.update(write)
        return {"source": {"name": "testapi-sink", "url": self.url, "retries": 0}, "write": spec}


def main() -> None:
    """``python testapi.py N [DELAY]``: serve N items (each answer DELAY seconds late)
    and print the URL, for tests that need the API in another process."""
    import sys

    api = TestApi()
    api.add([{"id": i, "name": f"item {i}"} for i in range(1, int(sys.argv[1]) + 1)])
    api.delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    print(api.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
