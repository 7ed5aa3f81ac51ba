"""The Spark data source in local mode (local[2]): schemas, a write with its reports,
a config error. The multi-process cluster tests are in test_spark_cluster.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pyspark.errors import PySparkException
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)
from sparkutil import SPARK_SECRET, start


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = start("local[2]", "apiconn-local")
    yield session
    session.stop()


def read(spark, config, stream=False, **options):
    r = (spark.readStream if stream else spark.read).format("apiconn")
    r = r.option("config", json.dumps(config))
    r = r.option("allow_private", "true")
    for k, v in options.items():
        r = r.option(k, v)
    return r


def test_schemas_from_fields_default_and_user(spark, api):
    api.add([{"id": i, "name": f"n{i}", "p": i / 2, "at": "2024-01-02"} for i in range(1, 26)])
    fields = [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string", "as": "label"},
        {"name": "p", "type": "double"},
        {"name": "at", "type": "date"},
    ]
    df = read(spark, api.config(fields=fields)).load()
    assert df.schema == StructType(
        [
            StructField("id", LongType()),
            StructField("label", StringType()),
            StructField("p", DoubleType()),
            StructField("at", TimestampType()),
        ]
    )
    rows = df.collect()
    assert [r.id for r in rows] == list(range(1, 26))
    assert rows[3].label == "n4" and rows[3].p == 2.0
    assert spark.conf.get("spark.sql.session.timeZone") and rows[0].at.year == 2024

    raw = read(spark, api.config()).load()
    assert raw.schema == StructType([StructField("record", StringType())])
    assert [json.loads(r.record)["id"] for r in raw.collect()] == list(range(1, 26))

    mine = read(spark, api.config()).schema("name string, id bigint").load()
    assert [tuple(r) for r in mine.collect()][:2] == [("n1", 1), ("n2", 2)]


def test_write_sums_reports_and_keeps_rejected_and_failed_rows(spark, api, tmp_path):
    schema = StructType(
        [StructField("id", LongType()), StructField("tags", ArrayType(StringType()))]
    )
    rows = [(i, ["x"] if i == 9 else None) for i in range(1, 41)]
    df = spark.createDataFrame(rows, schema).repartition(4)
    api.reject_ids = {17}  # its batch of 5 answers 422
    report, rejects = tmp_path / "report.json", tmp_path / "rejects.ndjson"
    config = api.write_config(batch_size=5)
    (
        df.write.format("apiconn")
        .option("config", json.dumps(config))
        .option("allow_private", "true")
        .option("report_path", str(report))
        .option("reject_path", str(rejects))
        .mode("append")
        .save()
    )
    total = json.loads(report.read_text())
    kept = [json.loads(line) for line in rejects.read_text().splitlines()]
    refused = [k for k in kept if "422" in k["reason"]]
    rejected = [k for k in kept if k not in refused]
    assert total["tasks"] == 4 and total["read"] == 40
    # The batch the server refused (422) is rejected too, not failed.
    assert total["rejected"] == len(rejected) + len(refused) and len(rejected) == 1
    assert json.loads(rejected[0]["record"])["id"] == 9
    assert total["failed"] == 0 and 17 in [json.loads(f["record"])["id"] for f in refused]
    assert total["sent"] == 40 - len(kept)
    sent = sorted(r["id"] for r in api.received)
    assert sent == sorted(set(range(1, 41)) - {json.loads(k["record"])["id"] for k in kept})

    # Without reject_path the same write fails at commit, naming the counts.
    with pytest.raises(PySparkException, match="rejected"):
        (
            df.write.format("apiconn")
            .option("config", json.dumps(config))
            .option("allow_private", "true")
            .mode("append")
            .save()
        )


def test_config_error_names_the_config_path(spark, api, tmp_path):
    bad = api.config(paginate={"type": "offset", "param": "o", "step": 0})
    with pytest.raises(PySparkException) as e:
        read(spark, bad).load().collect()
    assert "ConfigError" in str(e.value) and "read.paginate" in str(e.value)

    path = tmp_path / "items.json"
    cfg = api.config()
    cfg["source"]["auth"] = {"type": "bearer", "token": "${env:NOT_ALLOWED_HERE}"}
    path.write_text(json.dumps(cfg))
    with pytest.raises(PySparkException) as e:
        (
            spark.read.format("apiconn")
            .option("config", str(path))
            .option("allow_private", "true")
            .load()
            .collect()
        )
    message = str(e.value)
    assert str(path) in message and "source.auth.token" in message, message


def test_stream_from_one_api_into_another_with_reports(spark, api, tmp_path):
    api.add([{"id": i, "name": f"n{i}"} for i in range(1, 13)])
    config = api.config(
        params={"per_page": 5},
        incremental={"param": "id_gte", "from_field": "id", "start": 0},
        fields=[{"name": "id", "type": "long"}, {"name": "name"}],
    )
    report = tmp_path / "report.json"
    query = (
        read(spark, config, stream=True)
        .load()
        .writeStream.format("apiconn")
        .option("config", json.dumps(api.write_config(batch_size=4)))
        .option("allow_private", "true")
        .option("report_path", str(report))
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(processingTime="500 milliseconds")
        .start()
    )
    try:
        query.processAllAvailable()
        api.add([{"id": i, "name": f"n{i}"} for i in range(13, 18)])
        time.sleep(0.6)
        query.processAllAvailable()
    finally:
        query.stop()
    assert sorted(r["id"] for r in api.received) == list(range(1, 18))
    last = json.loads(report.read_text())  # the last micro-batch's summed report
    assert last["sent"] == last["read"] == 5 and last["failed"] == last["rejected"] == 0


def test_secrets_are_resolved_by_the_connector_not_in_the_plan(spark, api):
    secret = SPARK_SECRET  # in the environment the session started with
    api.add([{"id": i} for i in range(1, 4)])
    config = api.config()
    config["source"]["auth"] = {"type": "bearer", "token": "${env:APICONN_SECRET_SPARK_TEST}"}
    df = read(spark, config, allow_env="APICONN_SECRET_SPARK_TEST").load()
    assert [json.loads(r.record)["id"] for r in df.collect()] == [1, 2, 3]
    sent = [h.get("authorization") for method, path, h in api.requests if path == "/items"]
    assert sent and all(h == f"Bearer {secret}" for h in sent)
    plan = df._jdf.queryExecution().toString()
    assert "APICONN_SECRET_SPARK_TEST" in plan or "apiconn" in plan.lower()
    assert secret not in plan
    # A failing read: the error that reaches Spark is masked.
    config["read"]["path"] = "/denied"
    config["read"].pop("paginate")
    with pytest.raises(PySparkException) as e:
        read(spark, config, allow_env="APICONN_SECRET_SPARK_TEST").load().collect()
    assert "HttpStatusError" in str(e.value) and "***" in str(e.value)
    assert secret not in str(e.value)


def test_the_stream_option_picks_a_stream_and_its_schema(spark, api):
    api.add([{"id": i, "city": "hz" if i % 2 else "bj"} for i in range(1, 8)])
    one = api.config()
    ids = [{"name": "id", "type": "long"}]
    config = {
        "source": one["source"],
        "streams": {
            "hz": dict(one["read"], params={"per_page": 2, "city": "hz"}, fields=ids),
            "bj": dict(
                one["read"], params={"per_page": 2, "city": "bj"}, fields=[*ids, {"name": "city"}]
            ),
        },
    }
    df = read(spark, config).option("stream", "bj").load()
    assert df.schema == StructType(
        [StructField("id", LongType()), StructField("city", StringType())]
    )
    assert [(r.id, r.city) for r in df.collect()] == [(2, "bj"), (4, "bj"), (6, "bj")]
