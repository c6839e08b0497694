"""Reading records whose header names are not UTF-8, instead of failing on every poll.

Kafka header names are UTF-8 strings, and aiokafka decodes them strictly. Its
C reader raises ``UnicodeDecodeError`` out of ``getmany`` for a record whose
producer sent other bytes (clients that take header names as raw bytes can),
and the fetch position does not move: every later poll raises again, so one
such record stops its partition, and the whole consumer with it, for good.

``install()`` gives aiokafka's fetcher a record reader that reads batches as
before (the same C code, batch by batch) and, only for a batch that fails so,
reads that batch again leniently: bad header names keep their bytes as
surrogate escapes (``errors="surrogateescape"``). Such a record then reaches
the pipeline like any other, which dead-letters it as ``INVALID_EVENT``
(``consumer.intake.preparing``), and the records around it are applied as usual.

This reaches into aiokafka's record classes (``aiokafka>=0.14,<0.15``); the
tests produce such a record through the real broker and fail if a new aiokafka
changes what this relies on.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, Final, SupportsIndex

from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record import default_records
from aiokafka.record.legacy_records import LegacyRecordBatch, _LegacyRecordBatchPy

_LENGTH_OFFSET: Final = struct.calcsize(">q")
_LOG_OVERHEAD: Final = struct.calcsize(">qi")
_MAGIC_OFFSET: Final = struct.calcsize(">qii")
_MIN_SLICE: Final = _LOG_OVERHEAD + _LegacyRecordBatchPy.RECORD_OVERHEAD_V0


class _LenientBytes(bytes):
    """A header name's bytes: decoding never fails, bad bytes become surrogate escapes."""

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes.decode(self, encoding, "surrogateescape")


class _LenientBuffer(bytearray):
    """A batch's buffer whose slices are ``_LenientBytes`` (aiokafka's Python reader slices
    the buffer for keys, values and header names; varints are read in C, unaffected)."""

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        item = super().__getitem__(index)
        return _LenientBytes(item) if isinstance(index, slice) else item


def lenient_records(raw: bytes | memoryview) -> Iterator[Any]:
    """The records of one v2 batch, header names decoded with ``surrogateescape``."""
    batch: Any = default_records._DefaultRecordBatchPy(raw)
    batch._maybe_uncompress()
    batch._buffer = _LenientBuffer(batch._buffer)
    yield from batch


class _Batch:
    """A v2 batch read by aiokafka's own (C) reader, and read again leniently from the
    record where that failed on a header name."""

    __slots__ = ("_inner", "_iterator", "_raw")

    def __init__(self, raw: memoryview) -> None:
        self._raw = raw
        self._inner = default_records.DefaultRecordBatch(raw)
        self._iterator: Iterator[Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __iter__(self) -> Iterator[Any]:
        return self._records()

    def __next__(self) -> Any:
        # aiokafka reads a control batch's one record with next(batch).
        if self._iterator is None:
            self._iterator = self._records()
        return next(self._iterator)

    def _records(self) -> Iterator[Any]:
        last = -1
        try:
            for record in self._inner:
                last = record.offset
                yield record
        except UnicodeDecodeError:
            for record in lenient_records(bytes(self._raw)):
                if record.offset > last:
                    yield record


class LenientMemoryRecords:
    """aiokafka's ``MemoryRecords``: a fetch response's bytes, batch by batch."""

    __slots__ = ("_buffer", "_next_slice", "_pos", "_remaining_bytes")

    def __init__(self, bytes_data: bytes) -> None:
        self._buffer = bytes_data
        self._pos = 0
        self._next_slice: memoryview | None = None
        self._remaining_bytes = 0
        self._cache_next()

    def size_in_bytes(self) -> int:
        return len(self._buffer)

    def has_next(self) -> bool:
        return self._next_slice is not None

    def next_batch(self) -> Any:
        next_slice = self._next_slice
        if next_slice is None:
            return None
        if len(next_slice) < _MIN_SLICE:
            raise CorruptRecordException(
                f"Record size is less than the minimum record overhead "
                f"({_MIN_SLICE - _LOG_OVERHEAD})"
            )
        self._cache_next()
        if next_slice[_MAGIC_OFFSET] >= 2:
            return _Batch(next_slice)
        return LegacyRecordBatch(next_slice, next_slice[_MAGIC_OFFSET])  # no headers before v2

    def _cache_next(self) -> None:
        buffer, pos = self._buffer, self._pos
        remaining = len(buffer) - pos
        if remaining < _LOG_OVERHEAD:
            self._remaining_bytes = remaining  # the fetcher checks for a partial batch
            self._next_slice = None
            return
        length: int = struct.unpack_from(">i", buffer, pos + _LENGTH_OFFSET)[0]
        end = pos + _LOG_OVERHEAD + length
        if end > len(buffer):
            self._remaining_bytes = remaining
            self._next_slice = None
            return
        self._next_slice = memoryview(buffer)[pos:end]
        self._pos = end


def install() -> None:
    """Make every aiokafka consumer in this process read records through
    ``LenientMemoryRecords`` (idempotent)."""
    fetcher.MemoryRecords = LenientMemoryRecords
