"""examples/python: the Spark job and the dlt pipeline run as the README shows them,
against npm json-server 0.17.4 (installed by `npm ci --prefix tests`) serving a copy of
examples/json-server/db.json on a free port."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "python"
JSON_SERVER = ROOT / "tests/node_modules/json-server/lib/cli/bin.js"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[str]:
    assert JSON_SERVER.exists(), "json-server is missing: run `npm ci --prefix tests`"
    db = tmp_path / "db.json"
    shutil.copy(ROOT / "examples/json-server/db.json", db)
    port = free_port()
    child = subprocess.Popen(
        ["node", str(JSON_SERVER), "--host", "127.0.0.1", "--port", str(port), str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/users?_limit=1", timeout=1).read()
                break
            except OSError:
                assert child.poll() is None, "json-server exited"
                assert time.monotonic() < deadline, "json-server did not start"
                time.sleep(0.1)
        yield url
    finally:
        child.terminate()
        child.wait(10)


def configs(tmp_path: Path, url: str) -> list[str]:
    paths = []
    for name in ("users.json", "users-write.json"):
        config = json.loads((EXAMPLES / name).read_text())
        config["source"]["url"] = url
        path = tmp_path / name
        path.write_text(json.dumps(config))
        paths.append(str(path))
    return paths


def users(url: str) -> list[dict]:
    with urllib.request.urlopen(url + "/users") as r:
        return json.loads(r.read())


def run(args: list[str], cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_the_spark_job(json_server: str, tmp_path: Path) -> None:
    before = users(json_server)
    out = run([str(EXAMPLES / "spark_job.py"), *configs(tmp_path, json_server)], tmp_path)
    countries: dict[str, int] = {}
    for u in before:
        countries[u["address"]["country"]] = countries.get(u["address"]["country"], 0) + 1
    for country, n in countries.items():
        assert f"{country}: {n}\n" in out, out
    active = [u for u in before if u["active"]]
    report = json.loads(out.split("write report: ", 1)[1].splitlines()[0])
    assert report["sent"] == report["read"] == len(active) and report["failed"] == 0
    copies = sorted(u["id"] for u in users(json_server) if u["id"] > 1000)
    assert copies == sorted(u["id"] + 1000 for u in active)


def test_the_dlt_pipeline_twice(
    json_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    config = configs(tmp_path, json_server)[0]
    n = len(users(json_server))
    first = run([str(EXAMPLES / "dlt_pipeline.py"), config], tmp_path)
    assert f"loaded {n} new users; {n} in crm.users" in first, first
    second = run([str(EXAMPLES / "dlt_pipeline.py"), config], tmp_path)
    assert f"loaded 0 new users; {n} in crm.users" in second, second
