"""apiconn.dlt: a dlt pipeline into DuckDB, run twice; the second run loads only the
records added in between (the checkpoint lives in dlt's resource state)."""

from __future__ import annotations

import dlt
import duckdb

from apiconn.dlt import resource


def items(start, n):
    return [{"id": i, "name": f"item {i}", "price": i * 1.5} for i in range(start, start + n)]


def test_two_runs_into_duckdb_load_only_new_records(api, tmp_path, monkeypatch):
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    api.add(items(1, 23))
    config = api.config(
        incremental={"param": "id_gte", "from_field": "id", "start": 0},
        fields=[
            {"name": "id", "type": "long"},
            {"name": "name", "type": "string"},
            {"name": "price", "type": "double"},
        ],
    )
    db = str(tmp_path / "items.duckdb")

    def run():
        pipeline = dlt.pipeline(
            pipeline_name="apiconn_items",
            destination=dlt.destinations.duckdb(db),
            dataset_name="shop",
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        info = pipeline.run(resource(config, name="items", allow_private=True))
        assert not info.has_failed_jobs
        return pipeline

    def rows():
        with duckdb.connect(db) as con:
            return con.execute("select id, name, price from shop.items order by id").fetchall()

    pipeline = run()
    assert rows() == [(i, f"item {i}", i * 1.5) for i in range(1, 24)]
    state = pipeline.state["sources"]
    assert "checkpoint" in str(state)

    api.add(items(24, 5))
    run()
    got = rows()
    assert [r[0] for r in got] == list(range(1, 29))  # each once
    assert got[-1] == (28, "item 28", 42.0)

    # A third run with nothing new loads nothing.
    run()
    assert len(rows()) == 28
