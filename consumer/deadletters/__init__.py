"""Dead letters: what the service writes, and what operators do with them.

- ``writer``: the original record plus the reason in headers, acknowledged;
- ``tools/``: ``leadsync dlq list / show / replay``, pure modules apart from I/O.
"""
