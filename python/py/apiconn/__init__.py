"""apiconn: read records from HTTP/JSON APIs and write records to them.

All connector logic runs in apiconn's sandboxed WebAssembly component, under the same
egress policy, limits and secret rules as the ``apiconn`` CLI::

    import apiconn

    conn = apiconn.Connector("examples/json-server.json", allow_private=True)
    for batch in conn.read():
        print(batch.count, batch.checkpoint)
    for rb in conn.read_arrow():  # pyarrow.RecordBatch, typed from read.fields
        ...
    report = conn.write([{"id": 1}, {"id": 2}])  # .sent, .failed, .rejected
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from . import _native
from .errors import (
    ApiconnError,
    AuthError,
    ConfigError,
    DirtyRecordsError,
    HostError,
    HttpStatusError,
    InternalError,
    LimitError,
    NonCompliantRecordError,
    ResponseError,
    TransportError,
)

if TYPE_CHECKING:
    import pyarrow

__version__: str = _native.__version__

__all__ = [
    "Connector",
    "Batch",
    "Reader",
    "ArrowReader",
    "Writer",
    "WriteReport",
    "Rejection",
    "Problem",
    "load_config",
    "ApiconnError",
    "AuthError",
    "ConfigError",
    "DirtyRecordsError",
    "HostError",
    "HttpStatusError",
    "InternalError",
    "LimitError",
    "NonCompliantRecordError",
    "ResponseError",
    "TransportError",
]

ConfigLike = Union[str, "os.PathLike[str]", Mapping[str, Any], bytes]

_EXTENSIONS = (".json", ".yaml", ".yml", ".toml")

#: How much NDJSON crosses into the component per call when writing.
CHUNK_BYTES = 1 << 20


class Problem(NamedTuple):
    """One config problem: a JSON path (``read.paginate.step``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class Rejection(NamedTuple):
    """A record that was not sent: its 1-based position in the input, why, and the
    record as it was sent to the component (JSON text)."""

    line: int
    reason: str
    record: Optional[str]

    def __repr__(self) -> str:
        # The record is data, not shown; the reason is masked.
        return f"Rejection(line={self.line}, reason={self.reason!r})"


def _looks_like_path(text: str) -> bool:
    if "\n" in text or text.lstrip().startswith(("{", "[")):
        return False
    return text.lower().endswith(_EXTENSIONS) or Path(text).is_file()


def load_config(config: ConfigLike) -> tuple[str, Optional[str]]:
    """A config as JSON text, and the file it came from (if any).

    ``config`` is a dict, a path (``str`` or ``os.PathLike``) to a ``.json``, ``.yaml``/
    ``.yml`` or ``.toml`` file, or the text of a config in one of these formats.
    """
    if isinstance(config, Mapping):
        try:
            return json.dumps(config), None
        except (TypeError, ValueError) as e:
            raise ConfigError(f"invalid config: {e}", [("", str(e))]) from None
    if isinstance(config, bytes):
        config = config.decode("utf-8")
    if isinstance(config, os.PathLike) or (isinstance(config, str) and _looks_like_path(config)):
        path = os.fspath(config)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            message = f"reading config {path}: {e.strerror or e}"
            raise ConfigError(f"invalid config:\n  {message}", [("", message)]) from None
        return _native.parse_config(text, path), path
    if not isinstance(config, str):
        raise TypeError(f"a config is a dict, a path or a string, not {type(config).__name__}")
    text = config.strip()
    if text.startswith("{"):
        return _native.parse_config(text, "<config>.json"), None
    try:
        return _native.parse_config(text, "<config>.toml"), None
    except ConfigError:
        return _native.parse_config(text, "<config>.yaml"), None


class Batch:
    """One response's records: flat dicts, in source order."""

    __slots__ = ("records", "count", "checkpoint", "requests", "warnings")

    def __init__(
        self,
        records: list[dict[str, Any]],
        count: int,
        checkpoint: str,
        requests: int,
        warnings: list[str],
    ) -> None:
        self.records = records
        self.count = count
        #: Give it to ``Connector.read(state=...)`` to continue after this batch.
        self.checkpoint = checkpoint
        #: HTTP requests made for this batch, retries included.
        self.requests = requests
        #: What did not fail the read (dirty records skipped, ...), masked.
        self.warnings = warnings

    def __repr__(self) -> str:
        # Records and checkpoints are data (a checkpoint may hold a next URL): not shown.
        return f"Batch(count={self.count}, requests={self.requests}, warnings={len(self.warnings)})"


class _BaseReader:
    def __init__(self, native: Any, state: Optional[str]) -> None:
        self._native = native
        #: The checkpoint after the last batch handed out (the start state before any).
        self.checkpoint: Optional[str] = state
        #: Requests made so far, retries included.
        self.requests = 0
        #: Records handed out so far.
        self.records = 0
        #: Warnings of the last batch.
        self.warnings: list[str] = []

    def __iter__(self) -> _BaseReader:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(records={self.records}, requests={self.requests})"


class Reader(_BaseReader):
    """Iterates :class:`Batch` es; ``.checkpoint`` is the last batch's."""

    def __next__(self) -> Batch:
        out = self._native.next()
        if out is None:
            raise StopIteration
        ndjson, count, checkpoint, requests, warnings = out
        records = [json.loads(line) for line in ndjson.splitlines() if line]
        self.checkpoint, self.warnings = checkpoint, warnings
        self.requests += requests
        self.records += count
        return Batch(records, count, checkpoint, requests, warnings)


class ArrowReader(_BaseReader):
    """Iterates ``pyarrow.RecordBatch`` es (one per response, converted in Rust);
    ``.checkpoint`` is the last batch's, ``.schema`` their schema."""

    @property
    def schema(self) -> pyarrow.Schema:
        return self._native.arrow_schema()

    def __next__(self) -> pyarrow.RecordBatch:
        out = self._native.next_arrow()
        if out is None:
            raise StopIteration
        batch, checkpoint, requests, warnings = out
        self.checkpoint, self.warnings = checkpoint, warnings
        self.requests += requests
        self.records += batch.num_rows
        return batch


class WriteReport:
    """What a write did: ``read = sent + len(failed) + len(rejected)``."""

    __slots__ = ("read", "sent", "failed", "rejected", "requests")

    def __init__(self) -> None:
        self.read = 0
        self.sent = 0
        #: Records whose request never succeeded (after retries), or not sent
        #: because the write stopped.
        self.failed: list[Rejection] = []
        #: Records that break the rules (not a flat object, a field that does not
        #: convert), or that the server refused with a 4xx.
        self.rejected: list[Rejection] = []
        self.requests = 0

    def __iadd__(self, other: WriteReport) -> WriteReport:
        self.read += other.read
        self.sent += other.sent
        self.failed.extend(other.failed)
        self.rejected.extend(other.rejected)
        self.requests += other.requests
        return self

    @property
    def ok(self) -> bool:
        return not self.failed and not self.rejected

    def to_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "sent": self.sent,
            "rejected": len(self.rejected),
            "failed": len(self.failed),
            "requests": self.requests,
        }

    def __repr__(self) -> str:
        d = self.to_dict()
        return "WriteReport(" + ", ".join(f"{k}={v}" for k, v in d.items()) + ")"


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    try:
        import decimal

        if isinstance(value, decimal.Decimal):
            return float(value)
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _records_of(records: Any) -> Iterable[Any]:
    # pyarrow tables and record batches, pandas frames: as rows.
    if hasattr(records, "to_pylist"):
        return records.to_pylist()
    if hasattr(records, "to_dict") and hasattr(records, "columns"):
        return records.to_dict("records")
    return records


class Writer:
    """Sends records in the config's batches; lines are numbered across calls.
    ``finish()`` (or leaving a ``with`` block) sends the last partial batch."""

    def __init__(self, native: Any, keep_going: bool = True) -> None:
        self._native = native
        self._keep_going = keep_going
        self._line = 0
        # Compliant records not yet reported sent or failed, oldest first.
        self._pending: OrderedDict[int, str] = OrderedDict()
        self._stopped = False
        self.report = WriteReport()

    def _settle(self, result: tuple[int, list[Any], list[Any], list[Any], int]) -> WriteReport:
        sent, failed, rejected, refused, requests = result
        part = WriteReport()
        part.sent = sent
        part.requests = requests
        # Refused by the server (a 4xx): rejected, in line order.
        for line, reason in sorted(rejected + refused):
            part.rejected.append(Rejection(line, reason, self._pending.pop(line, None)))
        for line, reason in failed:
            part.failed.append(Rejection(line, reason, self._pending.pop(line, None)))
        for _ in range(min(sent, len(self._pending))):
            self._pending.popitem(last=False)
        if (failed or refused) and not self._keep_going:
            self._stopped = True
        return part

    def _not_sent(self, lines: Iterable[tuple[int, str]]) -> list[Rejection]:
        reason = "not sent: an earlier record was not stored and keep_going is off"
        return [Rejection(line, reason, text) for line, text in lines]

    def write(self, records: Iterable[Mapping[str, Any]]) -> WriteReport:
        """Sends ``records`` (dicts, a ``pyarrow.Table``/``RecordBatch``); returns what
        this call settled (records of a partial batch are settled by later calls)."""
        part = WriteReport()
        chunk: list[str] = []
        size = 0

        def flush() -> None:
            nonlocal chunk, size
            if not chunk:
                return
            if self._stopped:
                first = self._line - len(chunk) + 1
                lines = range(first, self._line + 1)
                for line in lines:
                    self._pending.pop(line, None)
                part.failed.extend(self._not_sent(zip(lines, chunk)))
            else:
                data = ("\n".join(chunk) + "\n").encode("utf-8")
                part.__iadd__(self._settle(self._native.write(data, self._keep_going)))
            chunk, size = [], 0

        for record in _records_of(records):
            text = json.dumps(record, ensure_ascii=False, default=_json_default)
            if "\n" in text:  # pragma: no cover - json.dumps escapes newlines
                text = text.replace("\n", "\\n")
            self._line += 1
            part.read += 1
            self._pending[self._line] = text
            chunk.append(text)
            size += len(text) + 1
            if size >= CHUNK_BYTES:
                flush()
        flush()
        self.report += part
        return part

    def finish(self) -> WriteReport:
        """Sends the last partial batch; returns the whole write's report."""
        if self._native is None:
            return self.report
        part = WriteReport()
        if self._stopped:
            part.failed.extend(self._not_sent(self._pending.items()))
            self._pending.clear()
        else:
            part = self._settle(self._native.finish())
            if self._pending and self._stopped:
                part.failed.extend(self._not_sent(self._pending.items()))
                self._pending.clear()
        self._native = None
        self.report += part
        return self.report

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.finish()

    def __repr__(self) -> str:
        return f"Writer({self.report!r})"


class Connector:
    """A connector config, loaded: secrets resolved under the rules below and known to
    the masker, the config checked when first used.

    ``config``: a dict, a path to a ``.json``/``.yaml``/``.yml``/``.toml`` file, or the
    text of one. ``env`` picks ``source.environments.NAME``. The keyword options are the
    CLI's flags: ``allow_private`` (loopback and private targets), ``allow_env`` (names
    ``${env:NAME}`` may read), ``allow_env_prefix`` (name prefixes it may read, e.g.
    ``"APICONN_SECRET_"``; none by default), ``allow_insecure_tls`` (let the config turn
    TLS verification off), ``secrets_dir`` (where ``${file:NAME}`` reads),
    ``max_memory_mib``, ``max_cpu_ms`` (per call), ``max_response_bytes``,
    ``max_timeout_ms`` (one request with its retries) and ``resolve`` (``HOST:PORT:ADDR``
    pins). ``stream`` picks the stream of a config with several (``streams``; the
    ``read`` block is ``"default"``): reads, partitions and the schema are that stream's.
    """

    def __init__(
        self,
        config: ConfigLike,
        env: Optional[str] = None,
        *,
        allow_private: bool = False,
        allow_env: Iterable[str] = (),
        allow_env_prefix: Iterable[str] = (),
        allow_insecure_tls: bool = False,
        secrets_dir: Optional[Union[str, os.PathLike[str]]] = None,
        max_memory_mib: int = 256,
        max_cpu_ms: int = 30_000,
        max_response_bytes: int = 64 << 20,
        max_timeout_ms: int = 120_000,
        resolve: Iterable[str] = (),
        stream: Optional[str] = None,
    ) -> None:
        if isinstance(allow_env, str):
            allow_env = [allow_env]
        if isinstance(allow_env_prefix, str):
            allow_env_prefix = [allow_env_prefix]
        if isinstance(resolve, str):
            resolve = [resolve]
        config_json, origin = load_config(config)
        self._native = _native.NativeConnector(
            config_json,
            env,
            bool(allow_private),
            list(allow_env),
            list(allow_env_prefix),
            bool(allow_insecure_tls),
            os.fspath(secrets_dir) if secrets_dir is not None else None,
            int(max_memory_mib),
            int(max_cpu_ms),
            int(max_response_bytes),
            int(max_timeout_ms),
            list(resolve),
            origin,
            stream,
        )
        self.env = env
        self.stream = stream

    @property
    def name(self) -> str:
        """``source.name``."""
        return self._native.name

    @property
    def schema(self) -> pyarrow.Schema:
        """The Arrow schema of :meth:`read_arrow`: ``read.fields`` typed (string, long →
        int64, double, boolean, date → timestamp[us, UTC], json → string), or one
        ``record`` column holding each record as JSON text when there are no fields."""
        return self._native.arrow_schema()

    def validate(self) -> list[Problem]:
        """Every problem of the config at once (empty: valid). Sends nothing."""
        return [Problem(path, message) for path, message in self._native.validate()]

    def check(self) -> str:
        """Test connection: the auth step and one data request, as formatted JSON
        with credentials masked."""
        return self._native.check()

    def partitions(self) -> list[str]:
        """The initial checkpoints of the read's partitions (one per traverse value; a
        ``values_from`` list is fetched). Empty: one partition, from the start."""
        return self._native.partitions()

    def streams(self) -> list[tuple[str, Optional[str]]]:
        """The config's streams as ``(name, parent)``, in its order (the ``read`` block
        first, as ``"default"``)."""
        return self._native.streams()

    def read(self, state: Optional[str] = None) -> Reader:
        """The records batch by batch, from ``state`` (a checkpoint) or the start."""
        return Reader(self._native.reader(state), state)

    def read_arrow(
        self, state: Optional[str] = None, schema: Optional[pyarrow.Schema] = None
    ) -> ArrowReader:
        """Like :meth:`read`, as ``pyarrow.RecordBatch`` es of :attr:`schema` (or of
        ``schema``: its columns are read from the records' keys)."""
        return ArrowReader(self._native.reader(state, schema), state)

    def writer(self, *, keep_going: bool = True) -> Writer:
        """A writer for records in several calls. Unless ``keep_going``, the first
        request that finally fails stops the write; the records after it are failed."""
        return Writer(self._native.sink(), keep_going)

    def write(
        self, records: Iterable[Mapping[str, Any]], *, keep_going: bool = True
    ) -> WriteReport:
        """Writes every record; every one ends sent, failed or rejected."""
        with self.writer(keep_going=keep_going) as w:
            w.write(records)
        return w.report

    def mask(self, text: str) -> str:
        """``text`` with this config's secret values replaced by ``***``."""
        return self._native.mask(text)

    def __repr__(self) -> str:
        env = f", env={self.env!r}" if self.env else ""
        stream = f", stream={self.stream!r}" if self.stream else ""
        return f"Connector(name={self.name!r}{env}{stream})"
