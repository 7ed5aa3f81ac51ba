"""Several streams in one config from Python: ``Connector(..., stream=)``, the list of
streams, and one dlt resource per stream into DuckDB."""

from __future__ import annotations

import dlt
import duckdb
import pytest

from apiconn import ApiconnError, Connector
from apiconn.dlt import resources


def two_streams(api):
    api.add([{"id": i, "city": "hz" if i % 2 else "bj"} for i in range(1, 8)])
    one = api.config()
    return {
        "source": one["source"],
        "streams": {
            "hz": dict(one["read"], params={"per_page": 2, "city": "hz"}),
            "bj": dict(one["read"], params={"per_page": 2, "city": "bj"}),
        },
    }


def ids(connector):
    return [r["id"] for batch in connector.read() for r in batch.records]


def test_a_stream_by_name(api):
    config = two_streams(api)
    assert Connector(config, allow_private=True).streams() == [("hz", None), ("bj", None)]
    assert ids(Connector(config, stream="hz", allow_private=True)) == [1, 3, 5, 7]
    assert ids(Connector(config, stream="bj", allow_private=True)) == [2, 4, 6]
    # Each: two pages with records, then the empty page that ends the loop.
    assert len(api.requests) == 3 + 3
    with pytest.raises(ApiconnError, match="the config has 2 streams"):
        ids(Connector(config, allow_private=True))


def test_one_dlt_resource_per_stream(api, tmp_path, monkeypatch):
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    config = two_streams(api)
    db = str(tmp_path / "cities.duckdb")
    pipeline = dlt.pipeline(
        pipeline_name="apiconn_streams",
        destination=dlt.destinations.duckdb(db),
        dataset_name="shop",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    made = resources(config, allow_private=True)
    assert [r.name for r in made] == ["hz", "bj"]
    info = pipeline.run(made)
    assert not info.has_failed_jobs
    with duckdb.connect(db) as con:
        hz = con.execute("select record from shop.hz").fetchall()
        bj = con.execute("select record from shop.bj").fetchall()
    assert len(hz) == 4 and len(bj) == 3
