"""One item's calls across both endpoints: the real Delivery, a scripted PBX."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from zoneinfo import ZoneInfo

from consumer.delivery.attempts import Delivered, Delivery
from consumer.delivery.breaker import Breaker
from consumer.delivery.retry import RetryPolicy
from consumer.delivery.router import Router
from consumer.delivery.routes import Fallbacks, Route, first_route
from consumer.limits.throttle import Throttle
from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Outcome, classify
from contracts.deadletter import Failure
from contracts.events import LeadChange, parse_lead_change
from contracts.insert import not_insertable
from contracts.noojee import NO_CHANGE, Endpoint, LeadCall, NoojeeCode
from contracts.reasons import CODES, HTTP_STATUS_OF_CODE
from contracts.request import RequestDefaults

DEFAULTS = RequestDefaults(
    template_id=1,
    campaign_id=2,
    allocation_id=3,
    timezone=ZoneInfo("UTC"),
    phone_fields=("FirstPhone",),
)
C = NoojeeCode
OFF = Fallbacks()


def answer(code: NoojeeCode) -> Outcome:
    body = json.dumps({"code": int(code), "message": code.name})
    return classify(HTTP_STATUS_OF_CODE[code], body)


class ScriptedPbx:
    """Answers each call with the next code of the script; keeps what was sent."""

    def __init__(self, *codes: NoojeeCode) -> None:
        self._codes = list(codes)
        self.calls: list[LeadCall] = []

    async def send(self, request: LeadCall) -> CallResult:
        self.calls.append(request)
        outcome = answer(self._codes[len(self.calls) - 1])
        status = getattr(outcome, "http_status", 200)
        return CallResult(outcome, status, 0.001, "http://pbx/?apiKey=REDACTED", request.endpoint)

    @property
    def endpoints(self) -> list[Endpoint]:
        return [call.endpoint for call in self.calls]


def event(**changes: Any) -> LeadChange:
    base = {"event_id": "e-1", "lead_id": "CRM-1", "occurred_at": "2026-11-26T10:15:00Z"}
    return parse_lead_change(json.dumps(base | changes).encode())


async def deliver(
    pbx: ScriptedPbx, given: LeadChange, fallbacks: Fallbacks = OFF
) -> tuple[Delivered | Failure | None, list[Route], list[tuple[bool, Route]]]:
    taken: list[Route] = []
    asked: list[tuple[bool, Route]] = []
    delivery = Delivery(
        sender=pbx,
        throttle=Throttle(1e6, 100),
        policy=RetryPolicy(base_s=0.001, cap_s=0.002, deadline_s=5.0),
        breaker=Breaker(probe_interval_s=0.0),
    )
    router = Router(delivery, fallbacks, on_fallback=taken.append)

    def prepare(grow: bool, route: Route) -> LeadCall:
        asked.append((grow, route))
        return fallbacks.call_for(route, given, DEFAULTS)

    result = await router.deliver(
        prepare, first_route(given), asyncio.Event(), lambda: not_insertable(given)
    )
    return result, taken, asked


PHONE = {"FirstPhone": "0383218199"}


async def test_a_create_for_a_lead_the_pbx_has_becomes_an_update_of_the_same_fields() -> None:
    pbx = ScriptedPbx(C.DUPLICATE_EXTERNAL_ID, C.OK)
    given = event(operation="create", phones=PHONE, fields={"City": "Richmond"})
    result, taken, asked = await deliver(pbx, given)
    assert result == Delivered(attempts=2)
    assert pbx.endpoints == [Endpoint.INSERT, Endpoint.UPDATE]
    assert taken == [Route.UPDATE_EXISTING]
    insert, update = pbx.calls
    assert {k: v for k, v in update.body.items() if v != NO_CHANGE} == dict(insert.body)
    # Once refused, the group no longer grows: the update carries what the insert did.
    assert [grow for grow, route in asked if route is Route.UPDATE_EXISTING] == [False]


async def test_a_missing_lead_is_inserted_with_create_missing() -> None:
    pbx = ScriptedPbx(C.COULDNT_FIND_THE_LEAD, C.OK)
    result, taken, _ = await deliver(pbx, event(phones=PHONE), Fallbacks(create_missing=True))
    assert result == Delivered(attempts=2)
    assert pbx.endpoints == [Endpoint.UPDATE, Endpoint.INSERT]
    assert taken == [Route.CREATE_MISSING]


async def test_without_create_missing_a_101_is_a_dead_letter_as_before() -> None:
    pbx = ScriptedPbx(C.COULDNT_FIND_THE_LEAD)
    result, taken, _ = await deliver(pbx, event(phones=PHONE))
    assert isinstance(result, Failure)
    assert (result.reason, result.code, result.endpoint) == (
        "COULDNT_FIND_THE_LEAD",
        101,
        "updateLeadFast",
    )
    assert result.message == CODES[C.COULDNT_FIND_THE_LEAD].message
    assert taken == []


async def test_an_update_that_cannot_be_an_insert_stays_a_101_saying_why() -> None:
    pbx = ScriptedPbx(C.COULDNT_FIND_THE_LEAD)
    given = event(phones={"FirstPhone": NO_CHANGE}, fields={"City": "Richmond"})
    result, taken, _ = await deliver(pbx, given, Fallbacks(create_missing=True))
    assert isinstance(result, Failure)
    assert result.reason == "COULDNT_FIND_THE_LEAD"
    assert "LEADSYNC_CREATE_MISSING could not create it" in result.message
    assert "'<No Change>' for FirstPhone" in result.message
    assert pbx.endpoints == [Endpoint.UPDATE]
    assert taken == []


async def test_a_107_is_resent_once_with_the_configured_disposition() -> None:
    pbx = ScriptedPbx(C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED, C.OK)
    fallbacks = Fallbacks(undialled_disposition="New")
    result, taken, _ = await deliver(pbx, event(phones=PHONE), fallbacks)
    assert result == Delivered(attempts=2)
    assert taken == [Route.UNDIALLED]
    first, resent = pbx.calls
    assert first.body["njDisposition"] == NO_CHANGE
    assert resent.body == {**first.body, "njDisposition": "New"}


async def test_a_second_107_is_a_dead_letter() -> None:
    pbx = ScriptedPbx(*[C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED] * 2)
    fallbacks = Fallbacks(undialled_disposition="New")
    result, taken, _ = await deliver(pbx, event(phones=PHONE), fallbacks)
    assert isinstance(result, Failure)
    assert result.code == 107
    assert result.attempts == 2
    assert len(pbx.calls) == 2
    assert taken == [Route.UNDIALLED]
    assert "answered 107" in result.message


async def test_without_the_setting_a_107_is_a_dead_letter_as_before() -> None:
    pbx = ScriptedPbx(C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED)
    result, _, _ = await deliver(pbx, event(phones=PHONE))
    assert isinstance(result, Failure)
    assert result.message == CODES[C.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED].message
    assert result.attempts == 1


async def test_a_refused_insert_is_a_dead_letter_that_names_the_insert() -> None:
    pbx = ScriptedPbx(C.DUPLICATE)
    result, _, _ = await deliver(pbx, event(operation="create", phones=PHONE))
    assert isinstance(result, Failure)
    assert (result.reason, result.endpoint) == ("DUPLICATE", "insertLeadFast")
    assert result.message.startswith("insertLeadFast (the event creates the lead) answered 105")


async def test_an_insert_is_retried_like_an_update() -> None:
    """109 and 103 on an insert: the same retries, then the 112 fallback as usual."""
    pbx = ScriptedPbx(
        C.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS, C.EXCEPTION, C.DUPLICATE_EXTERNAL_ID, C.OK
    )
    result, _, _ = await deliver(pbx, event(operation="create", phones=PHONE))
    assert result == Delivered(attempts=4)
    assert pbx.endpoints == [Endpoint.INSERT] * 3 + [Endpoint.UPDATE]
