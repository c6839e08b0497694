"""contracts.formats.mapping: the TOML mapping file, and every way it can be wrong."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contracts.formats import (
    CallbackEncoding,
    CreatePolicy,
    DeletePolicy,
    MappingError,
    SnapshotPolicy,
    load_mapping,
    parse_mapping,
)
from contracts.formats.mapping import ENCODING_ALIASES, UNAVAILABLE_VALUE

FIXTURE = Path(__file__).parents[1] / "fixtures" / "formats" / "debezium" / "mapping.toml"
MINIMAL = '[columns]\nlead_id = "crm_id"\n'


def test_the_fixture_mapping_reads_every_section() -> None:
    mapping = load_mapping(FIXTURE)
    assert mapping.lead_id == "crm_id"
    assert (mapping.disposition, mapping.priority, mapping.contact_hours) == (
        "status",
        "dial_priority",
        "contact_tz",
    )
    assert dict(mapping.campaign) == {"campaign_id": "pbx_campaign"}
    assert mapping.callback is not None
    assert mapping.callback.column == "call_back_at"
    assert mapping.callback.encoding is CallbackEncoding.EPOCH_MICROS
    assert mapping.callback.timezone == ZoneInfo("Australia/Melbourne")
    assert dict(mapping.phones) == {"mobile": "FirstPhone", "home_phone": "SecondPhone"}
    assert dict(mapping.fields) == {"first_name": "Name", "city": "City", "notes": "Notes"}
    assert mapping.table == "public.leads"


def test_only_the_lead_id_column_is_required_and_defaults_are_the_issues() -> None:
    mapping = parse_mapping(MINIMAL)
    assert mapping.lead_id == "crm_id"
    assert mapping.disposition is None
    assert mapping.callback is None
    assert mapping.table is None
    assert not mapping.phones
    assert not mapping.fields
    assert not mapping.campaign
    assert mapping.on_delete is DeletePolicy.IGNORE
    assert mapping.on_snapshot is SnapshotPolicy.APPLY
    assert mapping.on_create is CreatePolicy.INSERT
    assert mapping.unavailable_value == UNAVAILABLE_VALUE


def test_policies_and_the_close_disposition() -> None:
    mapping = parse_mapping(
        MINIMAL + '[events]\ndelete = "close"\nclose_disposition = "Deleted"\nsnapshot = "ignore"\n'
    )
    assert mapping.on_delete is DeletePolicy.CLOSE
    assert mapping.close_disposition == "Deleted"
    assert mapping.on_snapshot is SnapshotPolicy.IGNORE
    created = parse_mapping(MINIMAL + '[events]\ncreate = "update"\nsnapshot = "create"\n')
    assert created.on_create is CreatePolicy.UPDATE
    assert created.on_snapshot is SnapshotPolicy.CREATE
    with pytest.raises(MappingError, match=r"events\.create: must be one of insert, update"):
        parse_mapping(MINIMAL + '[events]\ncreate = "upsert"\n')


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        *((name, CallbackEncoding(name)) for name in CallbackEncoding),
        *ENCODING_ALIASES.items(),
    ],
)
def test_callback_encodings_by_short_or_debezium_name(
    name: str, encoding: CallbackEncoding
) -> None:
    mapping = parse_mapping(MINIMAL + f'[callback]\ncolumn = "cb"\nencoding = "{name}"\n')
    assert mapping.callback is not None
    assert mapping.callback.encoding is encoding
    assert mapping.callback.timezone == ZoneInfo("UTC")


BAD = [
    pytest.param("[columns\n", "", "not valid TOML", id="syntax"),
    pytest.param('table = "public.leads"\n', "columns", "missing", id="no-columns"),
    pytest.param("[columns]\n", "columns.lead_id", "missing", id="no-lead-id"),
    pytest.param(MINIMAL + '[colums]\nx = "y"\n', "colums", "unknown key", id="unknown-section"),
    pytest.param(MINIMAL + 'lead = "x"\n', "columns.lead", "unknown key", id="unknown-column-key"),
    pytest.param(
        "[columns]\nlead_id = 5\n", "columns.lead_id", "non-empty string", id="lead-id-int"
    ),
    pytest.param('[columns]\nlead_id = ""\n', "columns.lead_id", "non-empty string", id="empty"),
    pytest.param('columns = "crm_id"\n', "columns", "must be a table", id="columns-not-table"),
    pytest.param('table = ""\n' + MINIMAL, "table", "non-empty", id="empty-table"),
    pytest.param(
        MINIMAL + '[callback]\nencoding = "iso"\n', "callback.column", "missing", id="cb-col"
    ),
    pytest.param(
        MINIMAL + '[callback]\ncolumn = "cb"\n', "callback.encoding", "1000x", id="cb-enc"
    ),
    pytest.param(
        MINIMAL + '[callback]\ncolumn = "cb"\nencoding = "micros"\n',
        "callback.encoding",
        "unknown encoding 'micros'",
        id="cb-unknown-encoding",
    ),
    pytest.param(
        MINIMAL + '[callback]\ncolumn = "cb"\nencoding = "iso"\ntimezone = "Mars/Base"\n',
        "callback.timezone",
        "unknown IANA time zone",
        id="cb-zone",
    ),
    pytest.param(
        MINIMAL + '[callback]\ncolumn = "cb"\nencoding = "iso"\nformat = "x"\n',
        "callback.format",
        "unknown key",
        id="cb-unknown-key",
    ),
    pytest.param('phones = "mobile"\n' + MINIMAL, "phones", "must be a table", id="phones-str"),
    pytest.param(
        MINIMAL + '[phones]\nmobile = "njPhone"\n', "phones.mobile", "'nj' prefix", id="phone-nj"
    ),
    pytest.param(
        MINIMAL + '[phones]\nmobile = "FirstPhone"\nhome = "firstphone"\n',
        "phones.home",
        "already fed by phones.mobile",
        id="phone-twice",
    ),
    pytest.param(MINIMAL + "[phones]\nmobile = 1\n", "phones.mobile", "non-empty", id="phone-int"),
    pytest.param(
        MINIMAL + '[fields]\nstatus = "NJStatus"\n', "fields.status", "'nj' prefix", id="field-nj"
    ),
    pytest.param(
        MINIMAL + '[phones]\nmobile = "FirstPhone"\n[fields]\nmob = "FIRSTPHONE"\n',
        "fields.mob",
        "already fed by phones.mobile",
        id="field-is-phone",
    ),
    pytest.param(
        MINIMAL + '[fields]\na = "City"\nb = "city"\n',
        "fields.b",
        "already fed by fields.a",
        id="field-twice",
    ),
    pytest.param(
        MINIMAL + '[events]\ndelete = "drop"\n',
        "events.delete",
        "one of ignore, dead-letter, close",
        id="delete-policy",
    ),
    pytest.param(
        MINIMAL + "[events]\nsnapshot = true\n", "events.snapshot", "apply, ignore", id="snap-bool"
    ),
    pytest.param(
        MINIMAL + '[events]\ndelete = "close"\n',
        "events.close_disposition",
        'delete = "close" needs it',
        id="close-without-disposition",
    ),
    pytest.param(
        MINIMAL + '[events]\nclose_disposition = "Deleted"\n',
        "events.close_disposition",
        'only used with delete = "close"',
        id="disposition-without-close",
    ),
    pytest.param(MINIMAL + "[events]\non_delete = 1\n", "events.on_delete", "unknown", id="ev-key"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD)
def test_every_problem_names_the_file_the_key_and_what_is_wrong(
    text: str, key: str, problem: str
) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, source="crm.toml")
    error = caught.value
    assert (error.source, error.key) == ("crm.toml", key)
    assert problem in error.problem
    assert str(error).startswith(f"crm.toml: {key}: " if key else "crm.toml: ")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(MappingError, match=r"absent\.toml: cannot be read") as caught:
        load_mapping(path)
    assert caught.value.source == str(path)


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[columns]\nlead_id = "n\xfamero"\n')
    with pytest.raises(MappingError, match="cannot be read"):
        load_mapping(path)


def test_errors_in_a_file_name_its_path(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(MINIMAL + '[events]\nsnapshot = "sometimes"\n')
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(caught.value) == (
        f"{path}: events.snapshot: must be one of apply, ignore, create, not 'sometimes'"
    )


def test_the_mapping_cannot_be_changed_after_loading() -> None:
    mapping = load_mapping(FIXTURE)
    with pytest.raises(TypeError):
        mapping.phones["x"] = "y"  # type: ignore[index]
