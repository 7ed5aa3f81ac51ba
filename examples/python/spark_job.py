"""A Spark job on apiconn: read json-server's users (typed from the config's fields),
aggregate them, and write copies back through apiconn.

    npx json-server@0.17.4 --port 3000 examples/json-server/db.json &
    python examples/python/spark_job.py [READ_CONFIG [WRITE_CONFIG]]

Needs `pip install ./python pyspark==4.3.0 pyarrow` in the Python that runs it, and Java 17.
SPARK_MASTER picks the master (default local[2]).
"""

import json
import os
import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F  # noqa: N812

from apiconn.spark import register

here = Path(__file__).parent
read_config = sys.argv[1] if len(sys.argv) > 1 else str(here / "users.json")
write_config = sys.argv[2] if len(sys.argv) > 2 else str(here / "users-write.json")

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
spark = (
    SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[2]"))
    .appName("apiconn-example")
    .config("spark.ui.enabled", "false")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
register(spark)

users = (
    spark.read.format("apiconn")
    .option("config", read_config)
    .option("allow_private", "true")  # json-server is on 127.0.0.1
    .load()
)
users.printSchema()
for row in users.groupBy("country").agg(F.count("*").alias("users")).orderBy("country").collect():
    print(f"{row.country}: {row.users}")

# Copies of the active users under new ids; the driver's commit sums every task's report.
report = Path(tempfile.mkdtemp()) / "report.json"
(
    users.where("active")
    .select((F.col("id") + 1000).alias("id"), "name", "city")
    .write.format("apiconn")
    .option("config", write_config)
    .option("allow_private", "true")
    .option("report_path", str(report))
    .mode("append")
    .save()
)
print("write report:", json.dumps(json.loads(report.read_text())))
spark.stop()
