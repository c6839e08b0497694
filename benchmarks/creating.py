"""Scenario 12: a Debezium snapshot of new leads (op r, inserted), then an update of each.

The PBX starts empty (every lead id unknown until inserted), so every snapshot
row is one insertLeadFast call and every update one updateLeadFast call: the
figures are each phase's time against the PBX's ideal for the same calls
(capacity busy all the time at the measured mean service time).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from pathlib import Path

from aiokafka import AIOKafkaProducer

from benchmarks.capacity import PBX, SERVICE_MS
from benchmarks.flows import Mode
from benchmarks.harness import Watch, until_assigned, world
from benchmarks.load import BULK_BATCH_BYTES, BULK_LINGER_MS, create_topic
from benchmarks.measures import AppliedCall, Throughput, throughput
from benchmarks.report import TIMES, Figure, ScenarioResult

PARTITIONS = 4
MAPPING = """
table = "public.leads"
[columns]
lead_id = "crm_id"
disposition = "status"
[phones]
mobile = "FirstPhone"
[fields]
first_name = "Name"
city = "City"
[events]
snapshot = "create"
"""


def change(op: str, n: int, city: str, lsn: int) -> bytes:
    """One Debezium change event of the CRM's ``public.leads`` (schemas.enable=false)."""
    row = {"id": n, "crm_id": f"S{n:07d}", "status": "New", "first_name": "Jane Smith",
           "city": city, "mobile": f"04{n:08d}"}  # fmt: skip
    source = {"connector": "postgresql", "name": "crm", "db": "crmdb", "schema": "public",
              "table": "leads", "ts_ms": int(time.time() * 1000), "lsn": lsn}  # fmt: skip
    before = None if op == "r" else {**row, "city": "Snapshot"}
    value = {"before": before, "after": row, "source": source, "op": op}
    return json.dumps(value, separators=(",", ":")).encode()


async def produce_changes(bootstrap: str, topic: str, values: Iterable[tuple[int, bytes]]) -> None:
    """Keyed by lead id; dealt out over the partitions in turn (each lead in one)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,  # the test broker has no InitProducerId
        linger_ms=BULK_LINGER_MS,
        max_batch_size=BULK_BATCH_BYTES,
    )
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value, key=f"S{n:07d}".encode(), partition=n % PARTITIONS)
            for n, value in values
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def ideal_s(phase: Throughput, capacity: int) -> float | None:
    """The phase's calls with every slot busy all the time."""
    rate = phase.ideal_per_s(capacity)
    return phase.applied / rate if rate > 0 else None


async def snapshot(mode: Mode, workdir: Path) -> ScenarioResult:
    leads = mode.pick(400, 1000)
    timeout_s = leads / 10 + 60
    async with world(workdir) as w:
        pbx = await w.pbx(**PBX)
        cap = pbx.capacity
        await pbx.configure({"known_leads": []})  # an empty PBX: every lead is new
        mapping = workdir / "mapping.toml"
        mapping.write_text(MAPPING)
        topic = await create_topic(w.bootstrap, PARTITIONS)
        await pbx.reset()
        settings = {"input_format": "debezium", "mapping_file": mapping}
        procs = [w.service("leadsync", pbx, topic, settings)]
        async with Watch(pbx, procs) as watch:
            await until_assigned(procs, PARTITIONS)
            rows = ((n, change("r", n, "Snapshot", 1000)) for n in range(leads))
            await produce_changes(w.bootstrap, topic, rows)
            inserted = await watch.until_applied(leads, timeout_s)
            updates = ((n, change("u", n, "Richmond", 2000 + n)) for n in range(leads))
            await produce_changes(w.bootstrap, topic, updates)
            complete = inserted and await watch.until_applied(2 * leads, timeout_s)
            stats = await pbx.stats()
        codes = [await proc.stop() for proc in procs]
        calls = await pbx.applied()
    first, second = _phases(calls)
    t_ins, t_upd = throughput(first), throughput(second)
    u_ins, u_upd = t_ins.utilisation(cap), t_upd.utilisation(cap)
    by_endpoint = stats.get("endpoints", {})
    inserts = by_endpoint.get("insertLeadFast", {}).get("applied", 0)
    answered = stats.get("codes", {})
    code_112, code_109 = int(answered.get("112", 0)), int(answered.get("109", 0))
    peak = int(stats.get("max_concurrency", 0))
    result = ScenarioResult(
        "snapshot",
        "12. Snapshot of new leads",
        f"PBX --threads 8 (capacity {cap}), {SERVICE_MS[0]:.0f}-{SERVICE_MS[1]:.0f} ms"
        f" calls, starting empty; a Debezium snapshot of {leads} leads (op r, mapping"
        ' events.snapshot = "create": insertLeadFast), then, once all were inserted, an'
        f" update of each (op u: updateLeadFast); {PARTITIONS} partitions; default settings"
        " (MAX_CONCURRENCY=4, RATE_LIMIT=40, coalescing on).",
        "the PBX's ideal: the same calls with every slot busy all the time at the measured"
        " mean service time (capacity ÷ mean service).",
    )
    result.figures = [
        Figure("leads inserted", inserts, "", leads, f"= {leads}", inserts == leads),
        Figure("snapshot inserted in", t_ins.window_s, "s", ideal_s(t_ins, cap), compare=True),
        Figure("utilisation (inserts)", u_ins, TIMES),
        Figure("updates applied in", t_upd.window_s, "s", ideal_s(t_upd, cap), compare=True),
        Figure("utilisation (updates)", u_upd, TIMES),
        Figure("112 answers (an insert of a lead the PBX has)", code_112, "", 0, "0", not code_112),
        Figure("PBX max concurrency (both endpoints)", peak, "", cap, f"≤ {cap}", peak <= cap),
        Figure("109 answers", code_109, "", 0, "0", not code_109),
    ]
    result.limits = (
        f"Inserts and updates share the PBX's {cap} slots and the service's one budget;"
        f" the snapshot's {len(first)} inserts took {t_ins.window_s:.1f} s against an ideal"
        f" of {ideal_s(t_ins, cap) or 0:.1f} s ({u_ins:.3f} of it), and the {len(second)}"
        f" updates {t_upd.window_s:.1f} s against {ideal_s(t_upd, cap) or 0:.1f} s"
        f" ({u_upd:.3f}), each phase timed from its first call's start to its last call's"
        " end. Every insert found its lead missing (no 112), so no update was sent for it."
        + ("" if complete else " Not every call was applied within the time limit.")
        + (f" Stopped with SIGTERM, the service exited {codes[0]}." if any(codes) else "")
    )
    return result


def _phases(calls: list[AppliedCall]) -> tuple[list[AppliedCall], list[AppliedCall]]:
    """Each lead's first applied call (its insert) and the rest (its update)."""
    by_lead: dict[str, list[AppliedCall]] = {}
    for call in sorted(calls, key=lambda call: call.started_at):
        by_lead.setdefault(call.lead, []).append(call)
    first = [applied[0] for applied in by_lead.values()]
    return first, [call for applied in by_lead.values() for call in applied[1:]]
