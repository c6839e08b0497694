"""How much the PBX may take, and no more.

- ``throttle``: calls at once and calls per second, process-wide;
- ``rate_limit``, ``rate_window``: the bucket, and the one-second bound where it binds;
- ``adaptive``, ``limit_controller``: finding the PBX's real capacity from latency;
- ``loop_lag``: how late this process's own event loop runs;
- ``fleet_plan``: how a fleet of replicas divides the slots and the partitions.
"""
