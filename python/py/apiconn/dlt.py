"""apiconn as a dlt resource: records as Arrow tables, the checkpoint in dlt's resource
state, so each ``pipeline.run`` loads only what is new since the last successful one::

    import dlt
    from apiconn.dlt import resource

    items = resource("examples/incremental-follow.json", allow_private=True)
    dlt.pipeline("items", destination="duckdb").run(items)

Each batch's checkpoint is stored after dlt has taken the batch; dlt commits the state
with the load, so a failed run is read again from the last committed checkpoint
(at-least-once, like ``apiconn read --state``). A traverse keeps one checkpoint per
partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import dlt
import pyarrow as pa

from . import ConfigLike, Connector

__all__ = ["resource", "resources"]


def resource(
    config: ConfigLike,
    env: Optional[str] = None,
    *,
    name: Optional[str] = None,
    write_disposition: str = "append",
    primary_key: Any = None,
    stream: Optional[str] = None,
    **options: Any,
) -> Any:
    """A dlt resource reading ``config`` — its stream ``stream`` when it has several —
    (see :class:`apiconn.Connector` for ``env`` and the keyword options:
    ``allow_private``, ``allow_env``, ``secrets_dir``, limits). Named ``name``, or the
    stream's name, or ``source.name``."""
    connector = Connector(config, env, stream=stream, **options)
    resource_name = name or (stream or connector.name).replace("-", "_")

    def records() -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        partitions = connector.partitions()
        if not partitions:
            yield from _read(connector, state, "checkpoint")
            return
        saved = state.setdefault("partitions", {})
        for initial in partitions:
            yield from _read(connector, saved, initial, default=initial)

    return dlt.resource(
        records,
        name=resource_name,
        write_disposition=write_disposition,
        primary_key=primary_key,
    )


def _read(
    connector: Connector, state: dict[str, Any], key: str, default: Optional[str] = None
) -> Iterator[pa.Table]:
    reader = connector.read_arrow(state=state.get(key, default))
    for batch in reader:
        if batch.num_rows:
            yield pa.Table.from_batches([batch])
        # Resumed here only after dlt has taken the batch.
        state[key] = reader.checkpoint


def resources(config: ConfigLike, env: Optional[str] = None, **options: Any) -> list[Any]:
    """One dlt resource per stream of ``config`` (README "Several streams"), each with its
    own checkpoint in dlt's state, named after its stream."""
    names = [name for name, _ in Connector(config, env, **options).streams()]
    return [resource(config, env, stream=name, **options) for name in names]
