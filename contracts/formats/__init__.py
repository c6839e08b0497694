"""Input formats: a Kafka record, native, CloudEvents or Debezium, to a ``LeadChange``.

``decode_record`` is the one entry point the pipeline calls; ``load_mapping``
reads the Debezium mapping file at start-up. docs/input-formats.md describes each
format and the mapping file.
"""

from contracts.formats.debezium import Skip
from contracts.formats.detect import DecoderConfig, RecordFormat, decode_record, detect_format
from contracts.formats.mapping import (
    Callback,
    CallbackEncoding,
    CreatePolicy,
    DebeziumMapping,
    DeletePolicy,
    MappingError,
    SnapshotPolicy,
    load_mapping,
    parse_mapping,
)

__all__ = [
    "Callback",
    "CallbackEncoding",
    "CreatePolicy",
    "DebeziumMapping",
    "DecoderConfig",
    "DeletePolicy",
    "MappingError",
    "RecordFormat",
    "Skip",
    "SnapshotPolicy",
    "decode_record",
    "detect_format",
    "load_mapping",
    "parse_mapping",
]
