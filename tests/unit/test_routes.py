"""The fallback rules: which call follows a refused one, what it sends, what a dead letter says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from consumer.delivery.routes import Fallbacks, Route, Step, combined, first_route
from contracts.deadletter import Failure
from contracts.events import LeadChange, parse_lead_change
from contracts.noojee import NO_CHANGE, Endpoint, InsertLeadFast, NoojeeCode, UpdateLeadFast
from contracts.reasons import CODES
from contracts.request import RequestDefaults

DEFAULTS = RequestDefaults(
    template_id=1,
    campaign_id=2,
    allocation_id=3,
    timezone=ZoneInfo("UTC"),
    phone_fields=("FirstPhone", "SecondPhone"),
)
ALL_ON = Fallbacks(create_missing=True, undialled_disposition="New")
C = NoojeeCode


def event(**changes: Any) -> LeadChange:
    base = {"event_id": "e-1", "lead_id": "CRM-1", "occurred_at": "2026-11-26T10:15:00Z"}
    return parse_lead_change(json.dumps(base | changes).encode())


def failure(code: NoojeeCode, attempts: int = 1, second: int = 0) -> Failure:
    return Failure(
        code.name,
        CODES[code].message,
        code=int(code),
        http_status=400,
        response=json.dumps({"code": int(code), "message": code.name}),
        attempts=attempts,
        first_failed_at=datetime(2026, 11, 26, 10, 0, second, tzinfo=UTC),
        failed_at=datetime(2026, 11, 26, 10, 0, second, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("fallbacks", "route", "code", "taken", "expected"),
    [
        # 112 on an insert: the lead exists, update it (whatever the settings).
        (Fallbacks(), Route.CREATE, C.DUPLICATE_EXTERNAL_ID, (), Route.UPDATE_EXISTING),
        (ALL_ON, Route.CREATE_MISSING, C.DUPLICATE_EXTERNAL_ID, (), Route.UPDATE_EXISTING),
        (Fallbacks(), Route.UPDATE, C.DUPLICATE_EXTERNAL_ID, (), None),  # an update's 112 is final
        (Fallbacks(), Route.CREATE, C.DUPLICATE, (), None),
        (Fallbacks(), Route.CREATE, C.IMPORT_BUT_NOCHANGE_SPECIFIED, (), None),
        # 101 on an update: an insert, only with LEADSYNC_CREATE_MISSING.
        (Fallbacks(), Route.UPDATE, C.COULDNT_FIND_THE_LEAD, (), None),
        (ALL_ON, Route.UPDATE, C.COULDNT_FIND_THE_LEAD, (), Route.CREATE_MISSING),
        (ALL_ON, Route.UNDIALLED, C.COULDNT_FIND_THE_LEAD, (), Route.CREATE_MISSING),
        (ALL_ON, Route.CREATE, C.COULDNT_FIND_THE_LEAD, (), None),
        # 107 on an update: one resend, only with LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION.
        (Fallbacks(), Route.UPDATE, C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED, (), None),
        (ALL_ON, Route.UPDATE, C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED, (), Route.UNDIALLED),
        (
            ALL_ON,
            Route.UPDATE_EXISTING,
            C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED,
            (),
            Route.UNDIALLED,
        ),
        # Each way once: a second 107 is a dead letter, and no 101/112 ping-pong.
        (
            ALL_ON,
            Route.UNDIALLED,
            C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED,
            (Route.UNDIALLED,),
            None,
        ),
        (
            ALL_ON,
            Route.UPDATE_EXISTING,
            C.COULDNT_FIND_THE_LEAD,
            (Route.CREATE_MISSING,),
            None,
        ),
        (ALL_ON, Route.UPDATE, C.DNC, (), None),
        (ALL_ON, Route.UPDATE, None, (), None),
    ],
)
def test_which_call_follows_a_refusal(
    fallbacks: Fallbacks,
    route: Route,
    code: NoojeeCode | None,
    taken: tuple[Route, ...],
    expected: Route | None,
) -> None:
    assert fallbacks.after(route, code, {route, *taken}) is expected


def test_each_route_sends_the_endpoint_it_names() -> None:
    given = event(phones={"FirstPhone": "0383218199"}, fields={"City": "Richmond"})
    assert first_route(given) is Route.UPDATE
    assert first_route(event(operation="create")) is Route.CREATE
    for route in Route:
        call = ALL_ON.call_for(route, given, DEFAULTS)
        assert call.endpoint is route.endpoint
        kind = InsertLeadFast if route.endpoint is Endpoint.INSERT else UpdateLeadFast
        assert isinstance(call, kind)
        assert call.body["City"] == "Richmond"
    update = ALL_ON.call_for(Route.UPDATE, given, DEFAULTS)
    resent = ALL_ON.call_for(Route.UNDIALLED, given, DEFAULTS)
    assert update.body["njDisposition"] == NO_CHANGE
    # 'sends the same update once more with that disposition'
    assert {**update.body, "njDisposition": "New"} == dict(resent.body)


def test_the_undialled_disposition_must_be_a_real_one() -> None:
    for bad in ("", NO_CHANGE):
        with pytest.raises(ValueError, match="real one"):
            Fallbacks(undialled_disposition=bad)


def test_a_plain_update_failure_keeps_its_message_and_names_the_endpoint() -> None:
    alone = failure(C.DNC, attempts=2)
    said = combined([Step(Route.UPDATE, alone, None)])
    assert said.message == alone.message
    assert said.endpoint == "updateLeadFast"
    assert said.attempts == 2


def test_a_chain_of_calls_is_told_in_the_message_and_counted_whole() -> None:
    steps = [
        Step(Route.CREATE, failure(C.DUPLICATE_EXTERNAL_ID, second=1), None),
        Step(Route.UPDATE_EXISTING, failure(C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED), None),
        Step(
            Route.UNDIALLED, failure(C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED, second=3), None
        ),
    ]
    said = combined(steps)
    assert said.reason == "DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED"
    assert said.code == 107
    assert said.attempts == 3
    assert said.endpoint == "updateLeadFast"
    assert said.first_failed_at == steps[0].failure.first_failed_at
    assert said.failed_at == steps[-1].failure.failed_at
    assert said.message.startswith(
        "insertLeadFast (the event creates the lead) answered 112 DUPLICATE_EXTERNAL_ID; then "
        "updateLeadFast (the PBX already has the lead) answered 107 "
    )
    assert "LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION" in said.message


def test_a_108_on_an_insert_names_the_no_change_fields() -> None:
    sent = InsertLeadFast(
        "CRM-1", {}, {"njExternalLeadId": "CRM-1", "FirstPhone": "1", "City": NO_CHANGE}
    )
    said = combined([Step(Route.CREATE, failure(C.IMPORT_BUT_NOCHANGE_SPECIFIED), sent)])
    assert said.endpoint == "insertLeadFast"
    assert "'<No Change>' for City" in said.message
    assert said.message.startswith("insertLeadFast (the event creates the lead) answered 108")


def test_an_update_that_cannot_be_inserted_stays_a_101_and_says_why() -> None:
    said = combined(
        [Step(Route.UPDATE, failure(C.COULDNT_FIND_THE_LEAD), None)],
        refused="the event names no phone number, and a new lead needs at least one",
    )
    assert said.reason == "COULDNT_FIND_THE_LEAD"
    assert said.message.startswith(CODES[C.COULDNT_FIND_THE_LEAD].message)
    assert said.message.endswith(
        "LEADSYNC_CREATE_MISSING could not create it: the event names no phone number, and a "
        "new lead needs at least one."
    )
