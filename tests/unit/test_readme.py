"""The README's configuration table and the settings model name the same variables."""

from __future__ import annotations

import re
from pathlib import Path

from consumer.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[2] / "README.md"
# Variables of other programs than the service itself.
NOT_SETTINGS = {"LEADSYNC_SIM_API_KEY"}


def readme_variables() -> set[str]:
    tokens = re.findall(r"LEADSYNC_[A-Z0-9_*]+", README.read_text())
    # ``LEADSYNC_NOOJEE_*_ID`` and the like are patterns, not names.
    return {t.rstrip("_") for t in tokens if "*" not in t} - NOT_SETTINGS


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = readme_variables()
    missing = sorted(f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields)
    missing = [name for name in missing if name not in documented]
    assert missing == [], f"add to README's configuration table: {missing}"


def test_the_readme_names_no_setting_that_does_not_exist() -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(readme_variables() - known)
    assert unknown == [], f"README names variables the service does not read: {unknown}"
