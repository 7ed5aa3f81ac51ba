"""apiconn as an Apache Spark (4.x) data source, format ``apiconn``, through Spark's
Python Data Source API::

    from apiconn.spark import register
    register(spark)
    df = (spark.read.format("apiconn")
          .option("config", "examples/json-server.json")
          .option("allow_private", "true")
          .load())

Options (all strings):

- ``config``: a path to a config file, or the config's JSON/YAML/TOML text. Secret
  references in it (``${env:NAME}``, ``${file:NAME}``) are resolved where the connector
  runs — on the executors — never in the plan.
- ``env``, ``allow_private`` (``true``/``false``), ``allow_env`` (comma-separated names),
  ``allow_env_prefix`` (comma-separated prefixes), ``allow_insecure_tls``,
  ``secrets_dir``, ``max_memory_mib``, ``max_cpu_ms``, ``max_response_bytes``,
  ``max_timeout_ms``, ``resolve`` (comma-separated ``HOST:PORT:ADDR``): as the CLI's
  flags.
- reads: ``stream`` (the stream of a config with several ``streams``; its block gives
  the schema and the partitions), ``max_batches_per_trigger`` (streaming, default 100
  responses per partition).
- writes: ``report_path`` (the summed report as JSON, written by the driver's commit),
  ``reject_path`` (rejected and failed rows as NDJSON ``{"line","reason","record",
  "partition"}``); without ``reject_path`` a write with rejected or failed rows fails
  at commit, after reporting them, so none is dropped silently.

Batch reads run one Spark task per connector partition (per traverse value; one task
otherwise). The schema is ``read.fields`` mapped to Spark types (string, long → bigint,
double, boolean, date → timestamp, json → string), the one given with ``.schema(...)``
(columns read from the records' flattened keys), or else one ``record`` string column
holding each record as JSON.

Streaming reads keep one apiconn checkpoint per partition as the offset; each micro-batch
reads on from there like one pass of ``apiconn read --follow`` (give the read an
``incremental`` block to see only new records per pass).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import pyarrow as pa
from pyspark.sql.datasource import (
    DataSource,
    DataSourceReader,
    DataSourceStreamWriter,
    DataSourceWriter,
    InputPartition,
    SimpleDataSourceStreamReader,
    WriterCommitMessage,
)
from pyspark.sql.types import (
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from . import Connector, load_config

__all__ = ["ApiconnDataSource", "register", "ApiconnWriteError"]

_SPARK_TYPES: dict[str, DataType] = {
    "string": StringType(),
    "json": StringType(),
    "long": LongType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "date": TimestampType(),
}


def register(spark: Any) -> None:
    """Registers the ``apiconn`` format with a SparkSession."""
    spark.dataSource.register(ApiconnDataSource)


class ApiconnWriteError(RuntimeError):
    """Rows were rejected or failed and no ``reject_path`` was given to keep them."""


def _flag(options: dict[str, str], name: str) -> bool:
    return str(options.get(name, "false")).strip().lower() in ("true", "1", "yes")


def _names(options: dict[str, str], name: str) -> list[str]:
    return [n.strip() for n in str(options.get(name, "")).split(",") if n.strip()]


def _config(options: dict[str, str]) -> str:
    config = options.get("config")
    if not config:
        raise ValueError('the apiconn data source needs .option("config", PATH or TEXT)')
    return config


def connector(options: dict[str, str]) -> Connector:
    """The connector of a reader's or writer's options (secrets resolved here)."""
    kwargs: dict[str, Any] = {
        "allow_private": _flag(options, "allow_private"),
        "allow_env": _names(options, "allow_env"),
        "allow_env_prefix": _names(options, "allow_env_prefix"),
        "allow_insecure_tls": _flag(options, "allow_insecure_tls"),
        "resolve": _names(options, "resolve"),
        "secrets_dir": options.get("secrets_dir") or None,
    }
    for name in ("max_memory_mib", "max_cpu_ms", "max_response_bytes", "max_timeout_ms"):
        if options.get(name):
            kwargs[name] = int(options[name])
    return Connector(
        _config(options), options.get("env") or None, stream=options.get("stream") or None, **kwargs
    )


def _parsed(options: dict[str, str]) -> dict[str, Any]:
    # The config as written: no secret is resolved to plan a query.
    return json.loads(load_config(_config(options))[0])


def _block(options: dict[str, str]) -> dict[str, Any]:
    # The read block of .option("stream", NAME) (`read` is "default"), or `read`.
    parsed = _parsed(options)
    stream = options.get("stream")
    if stream and (stream != "default" or "read" not in parsed):
        return (parsed.get("streams") or {}).get(stream) or {}
    return parsed.get("read") or {}


def _default_schema(options: dict[str, str]) -> StructType:
    fields = _block(options).get("fields") or []
    columns = [
        StructField(f.get("as") or f["name"], _SPARK_TYPES[f.get("type", "string")], True)
        for f in fields
        if isinstance(f, dict) and f.get("name") and f.get("type", "string") in _SPARK_TYPES
    ]
    return StructType(columns or [StructField("record", StringType(), True)])


def _arrow_type(t: DataType) -> pa.DataType:
    simple: list[tuple[type, pa.DataType]] = [
        (StringType, pa.string()),
        (LongType, pa.int64()),
        (IntegerType, pa.int32()),
        (ShortType, pa.int16()),
        (DoubleType, pa.float64()),
        (FloatType, pa.float32()),
        (BooleanType, pa.bool_()),
        (TimestampType, pa.timestamp("us", tz="UTC")),
        (DateType, pa.date32()),
        (BinaryType, pa.binary()),
    ]
    for cls, arrow in simple:
        if isinstance(t, cls):
            return arrow
    raise TypeError(f"the apiconn data source cannot produce {t.simpleString()} columns")


def _arrow_schema(schema: StructType) -> pa.Schema:
    return pa.schema([pa.field(f.name, _arrow_type(f.dataType), True) for f in schema.fields])


def _is_traverse(options: dict[str, str]) -> bool:
    block = _block(options)
    paginate = block.get("paginate") or {}
    windows = "window" in (block.get("incremental") or {})
    return windows or (isinstance(paginate, dict) and paginate.get("type") == "traverse")


def _partition_checkpoints(options: dict[str, str]) -> list[Optional[str]]:
    # Only a traverse has partitions; anything else needs no connector on the driver.
    if not _is_traverse(options):
        return [None]
    parts: list[Optional[str]] = list(connector(options).partitions())
    return parts or [None]


class ApiconnDataSource(DataSource):
    """The ``apiconn`` format: batch and streaming reads and writes."""

    @classmethod
    def name(cls) -> str:
        return "apiconn"

    def schema(self) -> StructType:
        return _default_schema(self.options)

    def reader(self, schema: StructType) -> DataSourceReader:
        return _Reader(self.options, schema)

    def simpleStreamReader(self, schema: StructType) -> SimpleDataSourceStreamReader:  # noqa: N802
        return _StreamReader(self.options, schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceWriter:
        return _Writer(self.options)

    def streamWriter(self, schema: StructType, overwrite: bool) -> DataSourceStreamWriter:  # noqa: N802
        return _StreamWriter(self.options)


class _Partition(InputPartition):
    def __init__(self, index: int, checkpoint: Optional[str]) -> None:
        super().__init__(index)
        self.checkpoint = checkpoint


class _Reader(DataSourceReader):
    def __init__(self, options: dict[str, str], schema: StructType) -> None:
        self.options = dict(options)
        self.schema = schema

    def partitions(self) -> list[InputPartition]:
        return [_Partition(i, c) for i, c in enumerate(_partition_checkpoints(self.options))]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        conn = connector(self.options)
        state = getattr(partition, "checkpoint", None)
        for batch in conn.read_arrow(state=state, schema=_arrow_schema(self.schema)):
            if batch.num_rows:
                yield batch


class _StreamReader(SimpleDataSourceStreamReader):
    """Offsets: ``{"partitions": {"0": checkpoint or null, ...}}``, one apiconn checkpoint
    per partition (its initial one, or null for a read without partitions)."""

    def __init__(self, options: dict[str, str], schema: StructType) -> None:
        self.options = dict(options)
        self.schema = schema
        self.max_batches = int(self.options.get("max_batches_per_trigger") or 100)
        self._conn: Optional[Connector] = None

    def _connector(self) -> Connector:
        if self._conn is None:
            self._conn = connector(self.options)
        return self._conn

    def initialOffset(self) -> dict[str, Any]:  # noqa: N802
        parts = _partition_checkpoints(self.options)
        return {"partitions": {str(i): c for i, c in enumerate(parts)}}

    def _rows(self, batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        return list(zip(*columns))

    def read(self, start: dict[str, Any]) -> tuple[Iterator[tuple[Any, ...]], dict[str, Any]]:
        conn = self._connector()
        schema = _arrow_schema(self.schema)
        rows: list[tuple[Any, ...]] = []
        end = dict(start["partitions"])
        for key, checkpoint in start["partitions"].items():
            reader = conn.read_arrow(state=checkpoint, schema=schema)
            for n, batch in enumerate(reader, 1):
                rows.extend(self._rows(batch))
                if n >= self.max_batches:
                    break
            end[key] = reader.checkpoint
        if not rows:
            # Nothing new: the same requests again at the next trigger.
            return iter([]), start
        return iter(rows), {"partitions": end}

    def readBetweenOffsets(  # noqa: N802
        self, start: dict[str, Any], end: dict[str, Any]
    ) -> Iterator[tuple[Any, ...]]:
        """A micro-batch again after a restart: from ``start`` to ``end``."""
        conn = self._connector()
        schema = _arrow_schema(self.schema)
        rows: list[tuple[Any, ...]] = []
        for key, checkpoint in start["partitions"].items():
            stop = end["partitions"].get(key)
            if stop == checkpoint:
                continue
            reader = conn.read_arrow(state=checkpoint, schema=schema)
            for batch in reader:
                rows.extend(self._rows(batch))
                if reader.checkpoint == stop:
                    break
        return iter(rows)

    def commit(self, end: dict[str, Any]) -> None:
        pass


@dataclass
class ApiconnCommitMessage(WriterCommitMessage):
    """One task's write report, with its rejected and failed rows."""

    partition: int
    report: dict[str, int]
    rejected: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def _task_partition() -> int:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return ctx.partitionId() if ctx is not None else 0


class _Writer(DataSourceWriter):
    def __init__(self, options: dict[str, str]) -> None:
        self.options = dict(options)

    def write(self, iterator: Iterator[Any]) -> ApiconnCommitMessage:
        conn = connector(self.options)
        partition = _task_partition()
        rows: list[dict[str, Any]] = []
        with conn.writer() as writer:
            for row in iterator:
                rows.append(row.asDict(recursive=False))
                if len(rows) >= 1000:
                    writer.write(rows)
                    rows = []
            writer.write(rows)
        report = writer.report

        def lines(rs: Any) -> list[dict[str, Any]]:
            return [
                {"line": r.line, "reason": r.reason, "record": r.record, "partition": partition}
                for r in rs
            ]

        return ApiconnCommitMessage(
            partition, report.to_dict(), lines(report.rejected), lines(report.failed)
        )

    def commit(self, messages: list[Optional[WriterCommitMessage]]) -> None:
        total = {"read": 0, "sent": 0, "rejected": 0, "failed": 0, "requests": 0, "tasks": 0}
        kept: list[dict[str, Any]] = []
        for m in messages:
            if not isinstance(m, ApiconnCommitMessage):
                continue
            total["tasks"] += 1
            for k, v in m.report.items():
                total[k] = total.get(k, 0) + v
            kept.extend(m.rejected)
            kept.extend(m.failed)
        report_path = self.options.get("report_path")
        if report_path:
            _replace(report_path, json.dumps(total) + "\n")
        reject_path = self.options.get("reject_path")
        if reject_path:
            with open(reject_path, "a", encoding="utf-8") as f:
                for r in kept:
                    f.write(json.dumps(r) + "\n")
        elif kept:
            first = kept[0]
            raise ApiconnWriteError(
                f"apiconn write: {total['rejected']} rows rejected and {total['failed']} "
                f"failed of {total['read']} ({total['sent']} sent); first: partition "
                f"{first['partition']} line {first['line']}: {first['reason']} "
                '(give .option("reject_path", FILE) to keep them and succeed)'
            )

    def abort(self, messages: list[Optional[WriterCommitMessage]]) -> None:
        pass


class _StreamWriter(_Writer, DataSourceStreamWriter):
    def commit(self, messages: list[Optional[WriterCommitMessage]], batchId: int) -> None:  # noqa: N803
        _Writer.commit(self, messages)

    def abort(self, messages: list[Optional[WriterCommitMessage]], batchId: int) -> None:  # noqa: N803
        pass


def _replace(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
