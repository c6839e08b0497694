"""``python -m benchmarks [--full] [--only NAME]… [--profile] [--write PATH]``.

Runs the scenarios one after the other, prints the report (Markdown) and, with
``--write``, saves it. Processes' logs stay in the work directory named on
stderr. Exit status 1 when a scenario failed to run (its row says why).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.flows import Mode
from benchmarks.report import Machine, ScenarioResult, render
from benchmarks.scenarios import LEFT_OUT, SCENARIOS


def machine() -> Machine:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.partition(":")[2].strip()
                    break
    except OSError:
        pass
    return Machine(os.cpu_count() or 0, model, platform.python_version(), platform.platform())


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[2])
    parse.add_argument("--full", action="store_true", help="full counts (default: quick)")
    parse.add_argument(
        "--only",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parse.add_argument(
        "--profile", action="store_true", help="also profile the CPU-bound scenario with py-spy"
    )
    parse.add_argument("--write", type=Path, metavar="PATH", help="save the report here")
    parse.add_argument("--workdir", type=Path, help="logs and payloads (default: a new temp dir)")
    return parse


async def run_all(names: list[str], mode: Mode, workdir: Path) -> list[ScenarioResult]:
    # SIGTERM cancels like Ctrl-C does, so every scenario's processes are stopped.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    results = []
    for index, name in enumerate(names, 1):
        began = time.monotonic()
        print(f"[{index}/{len(names)}] {name} …", file=sys.stderr, flush=True)
        try:
            result = await SCENARIOS[name](mode, workdir / name)
        except Exception as exc:
            traceback.print_exc()
            result = ScenarioResult(name, name, "", "", error=f"{type(exc).__name__}: {exc}")
        print(
            f"[{index}/{len(names)}] {name}: {time.monotonic() - began:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    return results


def shown_command(argv: list[str]) -> str:
    """The command as the report shows it: where the logs went changes no figure."""
    shown, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--workdir"):
            skip = arg == "--workdir"
            continue
        shown.append(arg)
    return " ".join(["python -m benchmarks", *shown])


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    names = args.only or list(SCENARIOS)
    mode = Mode(full=args.full, profile=args.profile)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="leadsync-bench-"))
    print(f"logs in {workdir}", file=sys.stderr)
    began = time.monotonic()
    try:
        results = asyncio.run(run_all(names, mode, workdir))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: every process started was stopped", file=sys.stderr)
        return 130
    command = shown_command(argv if argv is not None else sys.argv[1:])
    report = render(
        results,
        machine=machine(),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        mode="full" if args.full else "quick",
        duration_s=time.monotonic() - began,
        left_out=LEFT_OUT if args.only is None else (),
    )
    print(report)
    if args.write is not None:
        args.write.write_text(report)
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
