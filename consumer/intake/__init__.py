"""Records in: from the consumer's polls to work in the lanes, and how far it is done.

- ``preparing``: a record to work ready to send, in one fallible step;
- ``backpressure``: which partitions pause, so memory and re-sends stay bounded;
- ``offsets``: which offsets are done, and what a commit may store.
"""
