"""The PBX as leadsync calls it: one call, and what its answer means.

- ``client``: the aiohttp client, one session, one call, one ``CallResult``;
- ``outcomes``: the pure decision table from an answer to an outcome;
- ``transport``: aiohttp's exceptions read once, by whether the update may have
  been applied;
- ``redact``: the PBX URL and any text without the API key.

Below every role: delivery sends through it, the limits and the telemetry read
its results.
"""
