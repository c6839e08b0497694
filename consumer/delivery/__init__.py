"""One event's way to the PBX, once it is taken.

- ``lanes``: one lead's events in order, leads side by side;
- ``worker``: a lane item merged, sent, then done or dead-lettered;
- ``coalesce``: which waiting events of a lead may merge, and how;
- ``attempts``: the calls and waits until an event is applied or set aside;
- ``retry``: backoff and the retry deadline (pure);
- ``breaker``: waiting out a PBX that is not there;
- ``internal_errors``: a bad event told from a broken service.

The call itself, and what an answer means, are ``consumer.pbx``'s.
"""
