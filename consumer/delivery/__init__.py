"""One event's way to the PBX.

- ``lanes``: one lead's events in order, leads side by side;
- ``worker``: a lane item merged, sent, then done or dead-lettered;
- ``coalesce``: which waiting events of a lead may merge, and how;
- ``attempts``: the calls and waits until an event is applied or set aside;
- ``retry``: backoff and the retry deadline (pure);
- ``breaker``: waiting out a PBX that is not there;
- ``outcomes``: what an answer means (pure decision table);
- ``transport``: aiohttp's exceptions read once;
- ``client``: the aiohttp client, one session, one call, one outcome;
- ``redact``: the PBX URL and texts without the API key;
- ``internal_errors``: a bad event told from a broken service.
"""
