# The README's commands. Every target creates the virtualenv when it is missing,
# so a fresh clone needs nothing but python3 (3.11+).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-unstable lint demo bench bench-full soak schema constraints clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Two workers: the fault scenarios spend most of their time waiting out outages,
# holds and freezes the issue fixes in length, so two of them share the machine
# well. Every test builds its own topics, PBX and processes; each worker starts
# its own broker. worksteal: a worker that runs out takes the other's queue.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal

# Fault scenarios known to fail intermittently (see docs/known-problems.md).
test-unstable: $(STAMP)
	$(BIN)/python -m pytest -m unstable tests/faults

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/yamllint --strict .

demo: $(STAMP)
	$(BIN)/leadsync demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-full: $(STAMP)
	$(BIN)/python -m benchmarks --full --profile --write BENCHMARKS.md

soak: $(STAMP)
	$(BIN)/python -m tests.faults.soak --minutes 20

schema: $(STAMP)
	$(BIN)/python -m contracts.schemas

# constraints.txt: the exact versions of the runtime and demo dependencies, the same on
# every platform (uv --universal), which the Dockerfile and `make` install with. Run it
# after changing a dependency in pyproject.toml, or to take newer versions within the
# bounds there; review the diff like code.
constraints: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra demo --universal --python-version 3.11 \
		--upgrade --quiet --custom-compile-command 'make constraints' -o constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
