"""Parquet export (pyarrow): the CSV columns, typed.

Schema: ``depth`` int32; ``on_active_path``, ``hidden``, ``edited`` bool; ``created_at``
``timestamp[us, tz=UTC]`` (null when unknown); every other column a (nullable) string.
Values are raw: unlike CSV, no apostrophe is added to formula-like text, since Parquet cells
are typed data that spreadsheet programs do not evaluate. The file metadata holds
``convshare.schema = "convshare/1"``.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from ..model import SCHEMA, Conversation
from ._rows import COLUMNS, rows

MEDIA_TYPE = "application/vnd.apache.parquet"
EXTENSION = ".parquet"

_TYPES: dict[str, pa.DataType] = {
    "depth": pa.int32(),
    "on_active_path": pa.bool_(),
    "hidden": pa.bool_(),
    "edited": pa.bool_(),
    "created_at": pa.timestamp("us", tz="UTC"),
}

PARQUET_SCHEMA: pa.Schema = pa.schema(
    [pa.field(column, _TYPES.get(column, pa.string()), nullable=column not in _TYPES or column == "created_at")
     for column in COLUMNS],
    metadata={b"convshare.schema": SCHEMA.encode()},
)
"""The Arrow schema of the export."""


def export_parquet(conversation: Conversation) -> bytes:
    """The conversation as a Parquet file (bytes), one row per message, all branches."""
    table_rows = rows(conversation)
    columns = {column: [row[column] for row in table_rows] for column in COLUMNS}
    table = pa.Table.from_pydict(columns, schema=PARQUET_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
