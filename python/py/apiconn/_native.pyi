"""Type stubs of the extension module (python/src/lib.rs). Use the `apiconn` package."""

from typing import Optional

import pyarrow

__version__: str

_Lines = list[tuple[int, str]]
_Report = tuple[int, _Lines, _Lines, _Lines, int]

def parse_config(text: str, name: str) -> str: ...

class NativeConnector:
    def __new__(
        cls,
        config_json: str,
        env: Optional[str],
        allow_private: bool,
        allow_env: list[str],
        allow_env_prefix: list[str],
        allow_insecure_tls: bool,
        secrets_dir: Optional[str],
        max_memory_mib: int,
        max_cpu_ms: int,
        max_response_bytes: int,
        max_timeout_ms: int,
        resolve: list[str],
        origin: Optional[str],
    ) -> NativeConnector: ...
    @property
    def name(self) -> str: ...
    def validate(self) -> list[tuple[str, str]]: ...
    def check(self) -> str: ...
    def partitions(self) -> list[str]: ...
    def arrow_schema(self) -> pyarrow.Schema: ...
    def mask(self, text: str) -> str: ...
    def reader(
        self, state: Optional[str] = None, schema: Optional[pyarrow.Schema] = None
    ) -> NativeReader: ...
    def sink(self) -> NativeSink: ...

class NativeReader:
    def next(self) -> Optional[tuple[bytes, int, str, int, list[str]]]: ...
    def next_arrow(self) -> Optional[tuple[pyarrow.RecordBatch, str, int, list[str]]]: ...
    def arrow_schema(self) -> pyarrow.Schema: ...

class NativeSink:
    def write(self, ndjson: bytes, keep_going: bool) -> _Report: ...
    def finish(self) -> _Report: ...
