"""SparkSessions for the tests: one at a time, on 127.0.0.1, stopped by the test module."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SPARK_SECRET = "spark-s3cr3t-4d2c"


def start(master: str, app: str) -> Any:
    # Executors and their Python workers run this interpreter, which has apiconn.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    # A secret the connectors on the executors resolve from their environment, as a
    # deployment provides it: the JVMs and Python workers inherit it from here.
    os.environ["APICONN_SECRET_SPARK_TEST"] = SPARK_SECRET
    from pyspark.sql import SparkSession

    from apiconn.spark import register

    spark = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.executor.memory", "768m")
        .config("spark.driver.memory", "768m")
        .config("spark.sql.streaming.stopTimeout", "30s")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    register(spark)
    return spark


def wait_for_executors(spark: Any, n: int, timeout: float = 60) -> None:
    """Until ``n`` executors (besides the driver) have registered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() >= n + 1:
            return
        time.sleep(0.2)
    raise AssertionError(f"{n} executors did not register in {timeout} s")


def apiconn_cli() -> Path:
    """The CLI built from this workspace (built here if it is not yet)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(
        ["cargo", "build", "--quiet", "--locked", "--workspace", "--bins"], cwd=ROOT, check=True
    )
    return target / "debug" / "apiconn"


def cli_read(config_path: Path) -> list[str]:
    out = subprocess.run(
        [str(apiconn_cli()), "read", str(config_path), "--allow-private"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.splitlines()
