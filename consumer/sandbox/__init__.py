"""What stands in for production, for the demo, the tests and the benchmarks.

- ``simulator/``: a Noojee PBX that behaves as the vendor documents;
- ``broker``: an embedded Kafka-protocol broker (Tansu, from the ``dev`` extra);
- ``demo_run``, ``samples``: the demo and the records it sends.

Only ``commands`` and the tests import it: the service never does.
"""
