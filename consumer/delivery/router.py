"""One lane item's calls across both endpoints: its first route, then the fallbacks.

``Delivery`` sends one route's call until it is applied or refused; ``Router``
asks ``routes.Fallbacks`` where a refusal leads and sends that route next,
through the same ``Delivery`` (the same breaker, throttle, adaptive limit and
retry policy: one budget for inserts and updates). The group stops growing once
the first route was refused, so a fallback carries what the refused call carried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from consumer.delivery.attempts import Delivered, Delivery
from consumer.delivery.routes import Fallbacks, Route, Step, combined
from contracts.deadletter import Failure
from contracts.noojee import LeadCall


def _uncounted(route: Route) -> None:
    return None


@dataclass(slots=True)
class Router:
    delivery: Delivery
    fallbacks: Fallbacks
    on_fallback: Callable[[Route], None] = _uncounted
    """Counts a fallback taken (a metric)."""

    async def deliver(
        self,
        prepare: Callable[[bool, Route], LeadCall | None],
        first: Route,
        stop: asyncio.Event,
        not_insertable: Callable[[], str | None],
    ) -> Delivered | Failure | None:
        """Like ``Delivery.deliver``; ``prepare(grow, route)`` gives the call of a route,
        ``not_insertable()`` why the item cannot be inserted (None: it can)."""
        route = first
        steps: list[Step] = []
        while True:
            sent: list[LeadCall] = []
            result = await self.delivery.deliver(self._attempt(prepare, route, steps, sent), stop)
            if result is None:
                return None
            if isinstance(result, Delivered):
                done = sum(step.failure.attempts for step in steps)
                return Delivered(attempts=done + result.attempts) if steps else result
            steps.append(Step(route, result, sent[-1] if sent else None))
            taken = {first, *(step.route for step in steps)}
            found = self.fallbacks.after(route, result.code, taken)
            if found is None:
                return combined(steps)
            if found is Route.CREATE_MISSING and (why := not_insertable()) is not None:
                return combined(steps, refused=why)
            self.on_fallback(found)
            route = found

    @staticmethod
    def _attempt(
        prepare: Callable[[bool, Route], LeadCall | None],
        route: Route,
        steps: list[Step],
        sent: list[LeadCall],
    ) -> Callable[[bool], LeadCall | None]:
        grows = not steps  # after a refusal the group carries what the refused call did

        def attempt(grow: bool) -> LeadCall | None:
            call = prepare(grow and grows, route)
            if call is not None:
                sent[:] = [call]
            return call

        return attempt
