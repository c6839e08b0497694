"""``python -m contracts.schemas [--check]``: regenerate the schema files (``make schema``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from contracts.schemas import SCHEMAS, load, render, write_all


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.schemas", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a file differs from the models"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = [name for name in SCHEMAS if load(name) != render(name)]
        for name in stale:
            print(f"{name} is out of date: run `make schema`", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all(Path(__file__).parent):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
