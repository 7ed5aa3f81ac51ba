"""The Python API of apiconn against a local test API: every method, every exception
class, secrets masked everywhere, the GIL released while the component works."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

import apiconn
from apiconn import errors

SECRET = "tok-s3cr3t-9f8e7d"


def ids(batches):
    return [r["id"] for b in batches for r in b.records]


def items(n, start=1):
    return [{"id": i, "name": f"item {i}"} for i in range(start, start + n)]


def test_read_batches_resume_and_reader_state(api):
    api.add(items(25))
    conn = apiconn.Connector(api.config(), allow_private=True)
    reader = conn.read()
    batches = list(reader)
    assert [b.count for b in batches] == [10, 10, 5, 0]
    assert ids(batches) == list(range(1, 26))
    assert batches[0].records[0] == {"id": 1, "name": "item 1"}
    assert all(b.requests == 1 for b in batches)
    assert reader.records == 25 and reader.requests == 4
    assert reader.checkpoint == batches[-1].checkpoint
    # From the first batch's checkpoint: the rest, once.
    assert ids(conn.read(state=batches[0].checkpoint)) == list(range(11, 26))
    # A finished read stays finished.
    assert ids(conn.read(state=batches[-1].checkpoint)) == []


def test_config_as_dict_json_yaml_toml_text_and_files(api, tmp_path):
    api.add(items(3))
    url = api.url
    as_json = json.dumps(api.config())
    as_yaml = (
        f"source:\n  name: testapi\n  url: {url}\n  retries: 0\n"
        "read:\n  path: /items\n  records: data\n"
    )
    as_toml = (
        f'[source]\nname = "testapi"\nurl = "{url}"\nretries = 0\n'
        '[read]\npath = "/items"\nrecords = "data"\n'
    )
    (tmp_path / "c.json").write_text(as_json)
    (tmp_path / "c.yaml").write_text(as_yaml)
    (tmp_path / "c.toml").write_text(as_toml)
    forms = [
        api.config(),
        as_json,
        as_yaml,
        as_toml,
        str(tmp_path / "c.json"),
        tmp_path / "c.yaml",
        str(tmp_path / "c.toml"),
    ]
    for form in forms:
        got = ids(apiconn.Connector(form, allow_private=True).read())
        assert got == [1, 2, 3], form
    with pytest.raises(apiconn.ConfigError, match="not valid YAML") as e:
        (tmp_path / "bad.yaml").write_text("source: [")
        apiconn.Connector(tmp_path / "bad.yaml")
    assert str(tmp_path / "bad.yaml") in str(e.value)
    with pytest.raises(apiconn.ConfigError, match="reading config"):
        apiconn.Connector(str(tmp_path / "missing.json"))


def test_read_arrow_typed_from_fields(api):
    api.add(
        [
            {
                "id": 1,
                "name": "a",
                "price": 2.5,
                "ok": True,
                "at": "2024-02-11T09:00:00Z",
                "meta": {"tags": ["x"]},
            },
            {"id": 2, "name": "b", "price": 3, "ok": False, "at": 1707642000000, "meta": None},
        ]
    )
    fields = [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string", "as": "label"},
        {"name": "price", "type": "double"},
        {"name": "ok", "type": "boolean"},
        {"name": "at", "type": "date"},
        {"name": "meta.tags", "type": "json"},
    ]
    conn = apiconn.Connector(
        api.config(fields=fields, flatten={"arrays": "json"}), allow_private=True
    )
    want = pa.schema(
        [
            ("id", pa.int64()),
            ("label", pa.string()),
            ("price", pa.float64()),
            ("ok", pa.bool_()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("meta.tags", pa.string()),
        ]
    )
    assert conn.schema == want
    reader = conn.read_arrow()
    got = list(reader)
    assert all(isinstance(b, pa.RecordBatch) for b in got)
    assert [b.num_rows for b in got] == [2, 0]
    assert reader.schema == want and got[0].schema == want
    table = pa.Table.from_batches(got)
    rows = table.to_pylist()
    utc = dt.timezone.utc
    assert rows[0]["id"] == 1 and rows[0]["label"] == "a" and rows[0]["price"] == 2.5
    assert rows[0]["ok"] is True
    assert rows[0]["at"] == dt.datetime(2024, 2, 11, 9, 0, tzinfo=utc)
    # JSON text is not encoded a second time (`type: json` on an array kept as JSON)
    assert json.loads(rows[0]["meta.tags"]) == ["x"]
    assert rows[1]["price"] == 3.0 and rows[1]["ok"] is False
    assert rows[1]["at"] == dt.datetime(2024, 2, 11, 9, 0, tzinfo=utc)
    assert rows[1]["meta.tags"] is None
    assert isinstance(reader.checkpoint, str) and reader.checkpoint
    # The same records as the dict path (dates there are RFC 3339 text).
    dicts = [r for b in conn.read() for r in b.records]
    for column in ["id", "label", "price", "ok", "meta.tags"]:
        assert [r[column] for r in dicts] == table.column(column).to_pylist()


def test_read_arrow_without_fields_and_with_a_schema(api):
    api.add([{"id": 1, "user": {"name": "ann"}}, {"id": 2, "user": {"name": "bob"}}])
    conn = apiconn.Connector(api.config(), allow_private=True)
    assert conn.schema == pa.schema([pa.field("record", pa.string(), nullable=False)])
    raw = pa.Table.from_batches(list(conn.read_arrow()))
    assert [json.loads(r) for r in raw.column("record").to_pylist()] == [
        {"id": 1, "user.name": "ann"},
        {"id": 2, "user.name": "bob"},
    ]
    schema = pa.schema([("user.name", pa.string()), ("id", pa.int64())])
    typed = pa.Table.from_batches(list(conn.read_arrow(schema=schema)))
    assert typed.schema == schema
    assert typed.to_pylist() == [{"user.name": "ann", "id": 1}, {"user.name": "bob", "id": 2}]


def test_validate_and_config_error_with_paths(api):
    conn = apiconn.Connector(api.config(), allow_private=True)
    assert conn.validate() == []
    bad = api.config(paginate={"type": "offset", "param": "o", "step": 0})
    bad["read"]["nope"] = 1
    conn = apiconn.Connector(bad, allow_private=True)
    problems = conn.validate()
    assert all(isinstance(p, apiconn.Problem) for p in problems)
    paths = [p.path for p in problems]
    assert any(p.startswith("read.paginate") for p in paths), problems
    assert any("nope" in p.path or "nope" in p.message for p in problems), problems
    with pytest.raises(apiconn.ConfigError) as e:
        list(conn.read())
    assert e.value.kind == "config"
    assert sorted(e.value.problems) == sorted(tuple(p) for p in problems)
    assert "read.paginate" in str(e.value)


def test_check_and_partitions(api):
    api.add([{"id": i, "city": c} for i, c in enumerate(["hz", "bj", "sh", "hz", "bj"], 1)])
    conn = apiconn.Connector(api.config(), allow_private=True)
    report = conn.check()
    assert "/items" in report and json.loads(report)
    assert conn.partitions() == []
    traverse = api.config(
        params={"per_page": 10},
        paginate={
            "type": "traverse",
            "param": "city",
            "values_from": {"url": api.url + "/cities", "extract": "cities"},
            "then": {"type": "page", "param": "page"},
        },
    )
    conn = apiconn.Connector(traverse, allow_private=True)
    parts = conn.partitions()
    assert len(parts) == 3
    per_city = [sorted(r["city"] for b in conn.read(state=p) for r in b.records) for p in parts]
    assert sorted(per_city) == [["bj", "bj"], ["hz", "hz"], ["sh"]]
    assert sorted(ids(conn.read())) == [1, 2, 3, 4, 5]


def test_write_report_sent_rejected_failed(api):
    conn = apiconn.Connector(api.write_config(batch_size=10), allow_private=True)
    records = items(25)
    records[4] = {"id": 5, "nested": {"a": 1}}  # not flat: rejected
    api.reject_ids = {13}  # its batch answers 422: refused by the server, so rejected
    report = conn.write(records)
    assert isinstance(report, apiconn.WriteReport)
    assert report.failed == []
    assert report.rejected[0].line == 5
    assert "nested" in report.rejected[0].reason
    assert json.loads(report.rejected[0].record) == {"id": 5, "nested": {"a": 1}}
    refused = report.rejected[1:]
    refused_ids = sorted(json.loads(r.record)["id"] for r in refused)
    assert 13 in refused_ids and len(refused_ids) == 10
    assert all("422" in r.reason for r in refused)
    assert report.sent == 14
    assert report.read == 25 == report.sent + len(report.failed) + len(report.rejected)
    assert sorted(r["id"] for r in api.received) == sorted(
        set(range(1, 26)) - {5} - set(refused_ids)
    )
    assert report.to_dict()["requests"] == report.requests >= 3
    assert not report.ok


def test_writer_across_calls_and_arrow_input(api):
    conn = apiconn.Connector(api.write_config(batch_size=4), allow_private=True)
    with conn.writer() as w:
        first = w.write(items(6))
        assert first.sent == 4  # one full batch; two records wait
        w.write(pa.Table.from_pylist(items(3, start=7)))
    assert w.report.sent == 9 and w.report.ok and w.report.read == 9
    assert sorted(r["id"] for r in api.received) == list(range(1, 10))
    native = conn._native.sink()
    native.finish()
    with pytest.raises(apiconn.HostError, match="finished"):
        native.write(b'{"id":1}\n', True)
    # Without keep_going, the first record not stored stops the write: the refused
    # batch is rejected, the records after it are failed (never sent).
    api.received.clear()
    api.reject_ids = {2}
    report = apiconn.Connector(api.write_config(batch_size=2), allow_private=True).write(
        items(8, start=1), keep_going=False
    )
    assert [r.line for r in report.rejected] == [1, 2]
    assert report.sent == 0 and len(report.failed) == 6 and report.read == 8
    assert api.received == []


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_every_exception_class(api, monkeypatch):
    base = api.config(flatten={"arrays": "drop"})

    def conn(**changes):
        cfg = json.loads(json.dumps(base))
        for section, values in changes.items():
            cfg[section].update(values)
        return apiconn.Connector(cfg, allow_private=True)

    api.add([{"id": 1, "tags": ["a"], "n": "x"}])
    cases = [
        (conn(read={"paginate": {"type": "bogus"}}), apiconn.ConfigError),
        (conn(read={"path": "/nowhere"}), apiconn.HttpStatusError),
        (conn(source={"url": f"http://127.0.0.1:{closed_port()}"}), apiconn.TransportError),
        (conn(read={"max_requests": 1}), apiconn.LimitError),
        (conn(read={"path": "/broken", "paginate": None}), apiconn.ResponseError),
        (
            conn(read={"paginate": None, "flatten": {"arrays": "error"}}),
            apiconn.NonCompliantRecordError,
        ),
        (
            conn(read={"paginate": None, "fields": [{"name": "n", "type": "long"}]}),
            apiconn.DirtyRecordsError,
        ),
        (
            conn(
                source={
                    "auth": {
                        "type": "oauth2",
                        "token_url": api.url + "/denied",
                        "client_id": "c",
                        "client_secret": "s",
                    }
                }
            ),
            apiconn.AuthError,
        ),
    ]
    for c, cls in cases:
        with pytest.raises(apiconn.ApiconnError) as e:
            list(c.read())
        assert isinstance(e.value, apiconn.ApiconnError)
        assert type(e.value) is cls, (cls, e.value)
        # Exceptions survive pickling (Spark sends them between processes).
        again = pickle.loads(pickle.dumps(e.value))
        assert type(again) is cls and str(again) == str(e.value)
    with pytest.raises(apiconn.HttpStatusError) as e:
        list(conn(read={"path": "/nowhere"}).read())
    assert e.value.status == 404 and "HTTP 404" in str(e.value)
    # Without allow_private the egress policy refuses loopback: a transport error.
    with pytest.raises(apiconn.TransportError, match="127.0.0.1"):
        list(apiconn.Connector(base).read())
    # The memory limit.
    api.add([{"id": i, "pad": "x" * 10000} for i in range(2, 400)])
    for mib in (1, 3):  # too small to start; too small for a 4 MB page
        with pytest.raises(apiconn.LimitError, match="max-memory"):
            list(
                apiconn.Connector(
                    api.config(params={"per_page": 400}), allow_private=True, max_memory_mib=mib
                ).read()
            )
    # Every class of the error variant has its kind; InternalError (a trap in the
    # component) cannot be provoked through the real component from Python.
    kinds = {
        cls.kind
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ApiconnError)
    }
    assert kinds == {
        "error",
        "config",
        "auth",
        "http-status",
        "transport",
        "limit",
        "response",
        "non-compliant-record",
        "dirty-records",
        "internal",
        "host",
    }
    assert pickle.loads(pickle.dumps(apiconn.InternalError("x"))).message == "x"


def test_secrets_never_in_repr_or_str(api, monkeypatch, tmp_path):
    monkeypatch.setenv("APICONN_SECRET_PYTEST", SECRET)
    monkeypatch.setenv("OTHER_TOKEN", SECRET + "-other")
    (tmp_path / "pw").write_text(SECRET + "-file\n")
    api.add(items(3))
    cfg = api.config(path="/denied", paginate=None)
    cfg["source"]["auth"] = {"type": "bearer", "token": "${env:APICONN_SECRET_PYTEST}"}
    cfg["source"]["name"] = "s"
    conn = apiconn.Connector(cfg, allow_private=True, allow_env_prefix="APICONN_SECRET_")
    seen = [repr(conn), str(conn)]
    with pytest.raises(apiconn.HttpStatusError) as e:
        list(conn.read())
    assert e.value.status == 401
    assert "***" in str(e.value)  # the API echoed the token: masked
    seen += [str(e.value), repr(e.value), e.value.message]
    with pytest.raises(apiconn.HttpStatusError) as e:
        conn.check()
    seen += [str(e.value), repr(e.value)]
    # A good read with the secret: batches, readers, check reports.
    ok = api.config()
    ok["source"]["auth"] = {"type": "basic", "username": "u", "password": "${file:pw}"}
    good = apiconn.Connector(ok, allow_private=True, secrets_dir=tmp_path)
    reader = good.read()
    seen += [repr(b) for b in reader] + [repr(reader), good.check(), repr(good)]
    seen += [repr(good.validate())]
    # A variable outside the policy is a config error naming the reference only.
    bad = api.config()
    bad["source"]["auth"] = {"type": "bearer", "token": "${env:OTHER_TOKEN}"}
    with pytest.raises(apiconn.ConfigError, match="OTHER_TOKEN") as e:
        apiconn.Connector(bad, allow_private=True)
    seen += [str(e.value), repr(e.value), repr(e.value.problems)]
    assert ids(apiconn.Connector(bad, allow_private=True, allow_env=["OTHER_TOKEN"]).read())
    for text in seen:
        assert SECRET not in text, text
    assert good.mask(f"x {SECRET}-file y") == "x *** y"


def test_the_gil_is_released_while_the_component_waits():
    # The API runs in its own process: a GIL held by the read could not stall it.
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("testapi.py")), "30", "0.25"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        config = {
            "source": {"name": "slow", "url": url, "retries": 0},
            "read": {
                "path": "/items",
                "records": "data",
                "params": {"per_page": 10},
                "paginate": {"type": "page", "param": "page"},
            },
        }
        conn = apiconn.Connector(config, allow_private=True)
        ticks = 0
        done = threading.Event()

        def count():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                time.sleep(0.005)

        t = threading.Thread(target=count)
        t.start()
        time.sleep(0.05)
        before = ticks
        started = time.monotonic()
        got = ids(conn.read())  # 4 requests, each answered 0.25 s late
        took = time.monotonic() - started
        during = ticks - before
        done.set()
        t.join()
    finally:
        server.terminate()
        server.wait()
    assert got == list(range(1, 31))
    assert took >= 0.9
    # Held GIL: the counting thread could not run at all during the read.
    assert during >= 50, (during, took)
