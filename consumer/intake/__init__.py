"""The Kafka side of the service: records in, and how far they are done.

- ``preparing``: a record to work ready to send, in one fallible step;
- ``backpressure``: which partitions pause, so memory and re-sends stay bounded;
- ``offsets``: which offsets are done, and what a commit may store;
- ``kafka_clients``: consumer and producer options, bounded commit and stop;
- ``kafka_errors``: the one reading of aiokafka's exceptions;
- ``lenient_records``: reading header names that are not UTF-8.
"""
