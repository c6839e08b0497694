"""What stands in for production, for the demo, the tests and the benchmarks.

- ``simulator/``: a Noojee PBX that behaves as the vendor documents;
- ``broker``: an embedded Kafka-protocol broker (Tansu, from the ``dev`` extra);
- ``samples``: the demo's records, each with the outcome it must come to.

Only ``commands`` and the tests import it: the service never does.
"""
