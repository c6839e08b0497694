"""contracts/schemas: the shipped JSON Schema files match the models."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from consumer.commands import schema as schema_command
from contracts.events import EXAMPLE_EVENT
from contracts.schemas import LEAD_CHANGE_V1, SCHEMAS, load, render, write_all
from contracts.schemas.__main__ import main as generate


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_shipped_file_matches_the_models(name: str) -> None:
    assert load(name) == render(name), (
        f"contracts/schemas/{name} is out of date with the models: run `make schema`"
        " (python -m contracts.schemas) and commit the result"
    )


def test_render_is_stable_and_ends_with_a_newline() -> None:
    text = render(LEAD_CHANGE_V1)
    assert text == render(LEAD_CHANGE_V1)
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")


def test_write_all_rewrites_only_what_changed(tmp_path: Any) -> None:
    assert [p.name for p in write_all(tmp_path)] == list(SCHEMAS)
    assert write_all(tmp_path) == []
    (tmp_path / LEAD_CHANGE_V1).write_text("{}\n")
    assert [p.name for p in write_all(tmp_path)] == [LEAD_CHANGE_V1]
    assert (tmp_path / LEAD_CHANGE_V1).read_text() == render(LEAD_CHANGE_V1)


def test_check_mode_passes_on_the_shipped_files() -> None:
    assert generate(["--check"]) == 0


def test_leadsync_schema_prints_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    schema_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["schema"])
    assert args.handler(args) == 0
    assert capsys.readouterr().out == load(LEAD_CHANGE_V1)


def lead_change_validator() -> Any:
    # jsonschema arrives with the dev tools (kubernetes-validate); only these checks need it.
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(load(LEAD_CHANGE_V1))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_the_interface_example() -> None:
    validator = lead_change_validator()
    validator.validate(EXAMPLE_EVENT)
    assert json.loads(load(LEAD_CHANGE_V1))["examples"] == [EXAMPLE_EVENT]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"dispositon": "Sale"}, id="unknown-field"),
        pytest.param({"priority": 101}, id="priority-high"),
        pytest.param({"priority": "5"}, id="priority-string"),
        pytest.param({"lead_id": ""}, id="lead-id-empty"),
        pytest.param({"fields": {"njPriority": "1"}}, id="nj-field"),
        pytest.param({"phones": {"FirstPhone": "call me"}}, id="phone-words"),
        pytest.param({"campaign": {"template_id": "41"}}, id="campaign-id-string"),
        pytest.param({"campaign": {"x": 1}}, id="campaign-unknown"),
    ],
)
def test_schema_rejects_what_the_model_rejects(changes: dict[str, Any]) -> None:
    assert not lead_change_validator().is_valid(dict(EXAMPLE_EVENT) | changes)
