"""The Spark data source on a multi-process cluster: local-cluster[2,1,1024], two
executor JVMs with their own Python workers, against the tests' API on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql.types import StringType
from sparkutil import cli_read, start, wait_for_executors

CITIES = ["hz", "bj", "sh", "gz", "sz", "cd"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = start("local-cluster[2,1,1024]", "apiconn-cluster")
    wait_for_executors(session, 2)
    yield session
    session.stop()


def options(reader: Any, config: dict[str, Any]) -> Any:
    return (
        reader.format("apiconn")
        .option("config", json.dumps(config))
        .option("allow_private", "true")
    )


def traverse_config(api: Any, **read: Any) -> dict[str, Any]:
    return api.config(
        params={"per_page": 4},
        paginate={
            "type": "traverse",
            "param": "city",
            "values": CITIES,
            "then": {"type": "page", "param": "page"},
        },
        **read,
    )


def test_batch_read_equals_the_cli_row_for_row_across_executors(spark, api, tmp_path):
    api.add([{"id": i, "city": CITIES[i % 6], "n": {"v": i}} for i in range(1, 61)])
    api.delay = 0.05
    config = traverse_config(api)
    path = tmp_path / "cities.json"
    path.write_text(json.dumps(config))
    expected = cli_read(path)
    assert len(expected) == 60

    # Nested, so Spark pickles it by value for the executors' Python workers.
    def executor_of_this_worker() -> str:
        """The executor id of the JVM that started this Python worker's daemon."""
        import os

        def parent(pid: int) -> int:
            with open(f"/proc/{pid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[1])

        pid = os.getpid()
        for _ in range(4):
            pid = parent(pid)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            if b"--executor-id" in args:
                return args[args.index(b"--executor-id") + 1].decode()
        return "none"

    df = options(spark.read, config).load()
    assert df.rdd.getNumPartitions() == 6
    where = F.udf(executor_of_this_worker, StringType())
    rows = df.withColumn("executor", where()).withColumn("part", F.spark_partition_id()).collect()
    # Row for row: the same JSON text, in the same order (partition by partition).
    assert [r.record for r in rows] == expected
    executors = {r.part: r.executor for r in rows}
    assert len(executors) == 6
    assert len(set(executors.values())) >= 2, executors
    assert "none" not in executors.values()

    # Typed from fields: the CLI's values.
    fields = [{"name": "id", "type": "long"}, {"name": "city"}, {"name": "n.v", "type": "long"}]
    typed = options(spark.read, traverse_config(api, fields=fields)).load().collect()
    want = [json.loads(line) for line in expected]
    assert [r.asDict() for r in typed] == [
        {"id": w["id"], "city": w["city"], "n.v": w["n.v"]} for w in want
    ]


def test_batch_write_stores_every_row_once_with_reports_summed(spark, api, tmp_path):
    df = spark.range(1, 101).select(
        F.col("id"), F.concat(F.lit("row "), F.col("id").cast("string")).alias("name")
    )
    report = tmp_path / "report.json"
    (
        options(df.repartition(4).write, api.write_config(batch_size=7))
        .option("report_path", str(report))
        .mode("append")
        .save()
    )
    assert sorted(r["id"] for r in api.received) == list(range(1, 101))
    assert {r["name"] for r in api.received} == {f"row {i}" for i in range(1, 101)}
    total = json.loads(report.read_text())
    assert total == {
        "read": 100,
        "sent": 100,
        "rejected": 0,
        "failed": 0,
        "requests": total["requests"],
        "tasks": 4,
    }
    assert total["requests"] >= 100 // 7


def test_config_error_surfaces_naming_the_config_path(spark, api):
    bad = api.config(paginate={"type": "page", "param": "page", "step": "two"})
    with pytest.raises(PySparkException) as e:
        options(spark.read, bad).load().collect()
    assert "ConfigError" in str(e.value) and "read.paginate.step" in str(e.value)


def output_ids(spark: Any, path: str) -> list[int]:
    return sorted(r.id for r in spark.read.schema("id bigint, name string").json(path).collect())


def test_stream_each_record_once_across_a_restart(spark, api, tmp_path):
    config = api.config(
        params={"per_page": 5},
        incremental={"param": "id_gte", "from_field": "id", "start": 0},
        fields=[{"name": "id", "type": "long"}, {"name": "name"}],
    )
    out, checkpoint = str(tmp_path / "out"), str(tmp_path / "checkpoint")

    def run() -> Any:
        return (
            options(spark.readStream, config)
            .load()
            .writeStream.format("json")
            .option("path", out)
            .option("checkpointLocation", checkpoint)
            .trigger(processingTime="500 milliseconds")
            .start()
        )

    def rows(n: int) -> list[dict[str, Any]]:
        have = len(api.items)
        return [{"id": i, "name": f"item {i}"} for i in range(have + 1, have + n + 1)]

    api.add(rows(12))
    query = run()
    try:
        query.processAllAvailable()
        assert output_ids(spark, out) == list(range(1, 13))
        for _ in range(3):  # appended between micro-batches
            api.add(rows(4))
            time.sleep(0.6)
            query.processAllAvailable()
        assert output_ids(spark, out) == list(range(1, 25))
    finally:
        query.stop()
    batches_before = len(query.recentProgress)
    assert batches_before >= 2

    api.add(rows(7))  # while stopped
    query = run()
    try:
        query.processAllAvailable()
        api.add(rows(3))
        time.sleep(0.6)
        query.processAllAvailable()
    finally:
        query.stop()
    # Each record exactly once across the restart.
    assert output_ids(spark, out) == list(range(1, 35))
