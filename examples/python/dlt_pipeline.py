"""A dlt pipeline on apiconn: json-server's users into DuckDB, incrementally.

    npx json-server@0.17.4 --port 3000 examples/json-server/db.json &
    python examples/python/dlt_pipeline.py [CONFIG]    # run it twice: the second loads 0 rows

Needs `pip install ./python "dlt[duckdb]==1.31.0" pyarrow`.
Writes users.duckdb and .dlt-pipelines/ here.
"""

import sys
from pathlib import Path

import dlt
import duckdb

from apiconn.dlt import resource

config = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).parent / "users.json")

# The pipeline's working state (and the read's checkpoint) lives beside the database.
pipeline = dlt.pipeline(
    pipeline_name="apiconn_users",
    destination=dlt.destinations.duckdb("users.duckdb"),
    dataset_name="crm",
    pipelines_dir=".dlt-pipelines",
)
pipeline.run(resource(config, name="users", allow_private=True))
loaded = pipeline.last_trace.last_normalize_info.row_counts.get("users", 0)
with duckdb.connect("users.duckdb") as db:
    total = db.execute("select count(*) from crm.users").fetchone()[0]
print(f"loaded {loaded} new users; {total} in crm.users")
