"""JSON Schema files generated from the contract models, shipped as package data.

The files are the published form of the models (for producers in other
languages); ``python -m contracts.schemas`` (``make schema``) regenerates them
and a unit test fails when they drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from contracts.events import EVENT_TYPE, EXAMPLE_EVENT, LeadChange

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
LEAD_CHANGE_V1: Final = "lead-change.v1.schema.json"


@dataclass(frozen=True, slots=True)
class Published:
    model: type[BaseModel]
    schema_id: str
    examples: tuple[Mapping[str, Any], ...] = ()


SCHEMAS: Final[Mapping[str, Published]] = {
    LEAD_CHANGE_V1: Published(LeadChange, f"urn:leadsync:{EVENT_TYPE}", (EXAMPLE_EVENT,)),
}
"""File name -> what it publishes."""


def render(name: str) -> str:
    """The file ``name`` as the models make it now (stable order, trailing newline)."""
    published = SCHEMAS[name]
    schema: dict[str, Any] = {"$schema": DRAFT, "$id": published.schema_id}
    schema.update(published.model.model_json_schema(mode="validation"))
    if published.examples:
        schema["examples"] = list(published.examples)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def load(name: str = LEAD_CHANGE_V1) -> str:
    """The shipped file ``name`` (package data)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def write_all(directory: Path) -> list[Path]:
    """(Re)writes every schema file into ``directory``; returns those that changed."""
    changed = []
    for name in SCHEMAS:
        path = directory / name
        text = render(name)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
