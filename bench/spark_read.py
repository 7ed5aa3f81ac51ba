"""Spark and Python reads of the bench API, against `apiconn read` in the same run.

usage: spark_read.py --apiconn BIN --bench BIN [--pages 100] [--cores 2] [--out FILE]

Starts `apiconn-bench serve` (100 distinct pages of 1,000 nested records), then reads
PAGES pages, as a traverse over the page numbers (one connector partition per page) so
Spark can split it, with:
  - `apiconn read` (one partition at a time) and `apiconn read --concurrency CORES`;
  - the Python package in one thread: `Connector.read()` (dicts) and `read_arrow()`;
  - Spark local[CORES]: `spark.read.format("apiconn")`, every row materialised (noop sink).
Prints a Markdown table (rows/s, and per core) and writes it to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(f):
    started = time.perf_counter()
    rows = f()
    return rows, time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--apiconn", required=True)
    p.add_argument("--bench", required=True)
    p.add_argument("--pages", type=int, default=100)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--out")
    a = p.parse_args()

    server = subprocess.Popen([a.bench, "serve"], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    try:
        run(a, url)
    finally:
        server.terminate()
        server.wait()


def run(a: argparse.Namespace, url: str) -> None:
    import apiconn

    config = {
        "source": {"name": "bench", "url": url},
        "read": {
            "path": "/records",
            "params": {"pages": a.pages},
            "records": "data",
            "paginate": {
                "type": "traverse",
                "param": "page",
                "values": list(range(1, a.pages + 1)),
            },
            "flatten": {"arrays": "json"},
            "max_requests": a.pages + 1,
        },
    }
    tmp = Path(tempfile.mkdtemp())
    path = tmp / "bench.json"
    path.write_text(json.dumps(config))
    results = []

    def cli(*extra):
        out = subprocess.run(
            [a.apiconn, "read", str(path), "--allow-private", *extra],
            check=True,
            capture_output=True,
        )
        return out.stdout.count(b"\n")

    # Warm: the compiled component is cached, the server's pages are hot.
    cli()
    rows, secs = timed(cli)
    results.append(("`apiconn read` (one partition at a time)", 1, rows, secs))
    rows, secs = timed(lambda: cli("--concurrency", str(a.cores)))
    results.append((f"`apiconn read --concurrency {a.cores}`", a.cores, rows, secs))

    conn = apiconn.Connector(config, allow_private=True)
    rows, secs = timed(lambda: sum(b.count for b in conn.read()))
    results.append(("Python `Connector.read()`: dicts", 1, rows, secs))
    rows, secs = timed(lambda: sum(b.num_rows for b in conn.read_arrow()))
    results.append(("Python `Connector.read_arrow()`: Arrow", 1, rows, secs))

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from apiconn.spark import register

    spark = (
        SparkSession.builder.master(f"local[{a.cores}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    register(spark)

    def spark_read():
        df = (
            spark.read.format("apiconn")
            .option("config", json.dumps(config))
            .option("allow_private", "true")
            .load()
        )
        df.write.format("noop").mode("overwrite").save()
        return a.pages * 1000

    spark_read()  # warm: Python workers started, component compiled and cached
    rows, secs = timed(spark_read)
    results.append((f"Spark `local[{a.cores}]`, {a.pages} partitions", a.cores, rows, secs))
    spark.stop()

    cli_per_core = results[0][2] / results[0][3]
    load = os.getloadavg()[0]
    lines = [
        "# Spark and Python reads (`bench/spark.sh`)",
        "",
        f"Bench API: {a.pages} pages of 1,000 nested records ({a.pages * 1000} rows), "
        f"{a.cores} cores, one run; load average {load:.1f} when it ended. Ratios only "
        "within this table.",
        "",
        "| read | cores | rows | seconds | rows/s | rows/s per core | vs CLI per core |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, cores, rows, secs in results:
        per_core = rows / secs / cores
        lines.append(
            f"| {name} | {cores} | {rows} | {secs:.2f} | {rows / secs:,.0f} | "
            f"{per_core:,.0f} | {per_core / cli_per_core:.2f}× |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
