"""dlt's rest_api source reading the bench API into JSONL files: the Python
peer a data engineer would pick for the same job.

usage: dlt_read.py BASE_URL PAGES OUT_DIR  -> prints {"records": N}
"""

import json
import os
import sys

import dlt
from dlt.sources.rest_api import rest_api_source


def main():
    url, pages, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    source = rest_api_source(
        {
            "client": {
                "base_url": url,
                "paginator": {
                    "type": "page_number",
                    "page_param": "page",
                    "base_page": 1,
                    "total_path": "total_pages",
                },
            },
            "resources": [
                {
                    "name": "records",
                    "endpoint": {
                        "path": "records",
                        "params": {"pages": pages},
                        "data_selector": "data",
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="apiconn_bench",
        pipelines_dir=os.path.join(out, "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=os.path.join(out, "data")),
        dataset_name="bench",
    )
    pipeline.run(source, loader_file_format="jsonl")
    rows = pipeline.last_trace.last_normalize_info.row_counts
    print(json.dumps({"records": rows.get("records", 0)}))


if __name__ == "__main__":
    main()
