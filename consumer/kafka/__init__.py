"""Kafka as leadsync configures it: the clients' options, the reading of aiokafka's errors.

- ``clients``: consumer and producer built from settings; bounded stop;
- ``errors``: the one reading of aiokafka's exceptions (transient, too large, ...);
- ``lenient_records``: reading header names that are not UTF-8.

Below every role: the intake, the dead-letter writer and the dead-letter tools all
talk to Kafka through it.
"""
