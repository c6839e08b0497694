"""consumer.ownership.resume_point: the finished offsets a next owner skips, encoded and bounded."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from consumer.ownership.resume_point import ResumePoint, decode, encode, newer, record_key


def point(done_below: int = 100, finished: set[int] | None = None, **kw: object) -> ResumePoint:
    values: dict[str, object] = {
        "group": "leadsync",
        "topic": "lead-changes",
        "partition": 3,
        "generation": 7,
        "done_below": done_below,
        "finished": frozenset(finished or ()),
    }
    values.update(kw)
    return ResumePoint(**values)  # type: ignore[arg-type]


@given(
    st.integers(min_value=0, max_value=10**12),
    st.sets(st.integers(min_value=0, max_value=20_000), max_size=2000),
)
def test_a_point_round_trips_with_its_gaps_and_holes(done_below: int, above: set[int]) -> None:
    original = point(done_below, {done_below + o for o in above})
    value, left_out = encode(original, max_bytes=1 << 20)
    assert left_out == 0
    assert decode(value) == original


def test_offsets_below_done_below_are_finished_without_being_listed() -> None:
    p = point(100, {105, 106, 107, 200})
    assert p.is_finished(0)
    assert p.is_finished(99)
    assert not p.is_finished(100)
    assert p.is_finished(106)
    assert not p.is_finished(108)
    value, _ = encode(p, 1 << 20)
    doc = json.loads(value)
    assert doc["done_below"] == 100
    assert len(doc["finished"]) < 16  # two runs, a few bytes


def test_a_set_too_large_keeps_what_fits_from_the_bottom_up_and_counts_the_rest() -> None:
    scattered = {100 + 2 * n for n in range(5000)}  # 5000 runs of one
    value, left_out = encode(point(100, scattered), max_bytes=2048)
    assert len(value) <= 2048
    kept = decode(value)
    assert kept is not None
    assert left_out > 0
    assert kept.omitted == left_out
    assert len(kept.finished) + left_out == len(scattered)
    assert kept.finished == {o for o in scattered if o <= max(kept.finished)}  # the lowest


def test_records_this_version_cannot_read_are_ignored() -> None:
    for value in [b"not json", b"[]", b'{"v": 99}', b'{"v": 1}', b'{"v":1,"done_below":"x"}']:
        assert decode(value) is None
    good, _ = encode(point(), 1024)
    doc = json.loads(good)
    doc["finished"] = "gA=="  # one varint that never ends
    assert decode(json.dumps(doc).encode()) is None


def test_a_record_of_an_older_generation_never_supersedes_a_newer_one() -> None:
    current = point(generation=8)
    assert newer(None, current)
    assert not newer(current, point(generation=7))  # a fenced owner flushing late
    assert newer(current, point(generation=8))  # the same owner, written later
    assert newer(current, point(generation=9))


def test_the_key_names_the_group_and_the_partition() -> None:
    assert record_key("leadsync", "lead-changes", 3) == b'["leadsync","lead-changes",3]'
    assert point().key == record_key("leadsync", "lead-changes", 3)


def test_a_point_holds_only_while_the_groups_commit_has_not_moved_back_behind_it() -> None:
    p = point(committed=40)
    assert p.applies_after(40)
    assert p.applies_after(55)
    assert not p.applies_after(39)  # the offsets were reset: reprocess
    assert not p.applies_after(None)  # the group's commits were deleted
    assert point(committed=0).applies_after(None)
    value, _ = encode(p, 1024)
    assert decode(value) == p
