"""Which partitions this process owns, and how it hands them over.

- ``partitions``: one assigned partition's state, and the work item it carries;
- ``handover``: revokes and shutdown: fence, drain, commit, release;
- ``leadership``: whether this member computed the group's assignment;
- ``freeze_watch``: noticing that this process stood still past its session;
- ``slot_assignor``: the group's assignor, planning partitions and PBX slots.
"""
