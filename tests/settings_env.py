"""A test's own environment for the settings: none of the developer's or CI's
``LEADSYNC_*`` and ``OTEL_*`` variables, and the three a service cannot start without."""

from __future__ import annotations

import os

import pytest

from consumer.secret_files import ENV_PREFIX

SECRET = "s3cr3t-Key-0f-the-PBX"
REQUIRED = {
    "LEADSYNC_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "LEADSYNC_NOOJEE_URL": "https://pbx.example.com",
    "LEADSYNC_NOOJEE_API_KEY": SECRET,
}


def only_required_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith((ENV_PREFIX, "OTEL_")):
            monkeypatch.delenv(name)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
