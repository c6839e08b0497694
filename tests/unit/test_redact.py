"""The PBX URL as humans see it: the API key is never in it."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from consumer.pbx.redact import REDACTED, redact_text, redacted_url
from contracts.noojee import UPDATE_LEAD_FAST_PATH

BASE = "https://pbx.example.com"
CAMPAIGN = {"fTemplateId": "41", "fCampaignId": "41", "fAllocationId": "38"}


def test_url_shows_campaign_and_a_redacted_key_when_the_query_has_none() -> None:
    shown = redacted_url(BASE, UPDATE_LEAD_FAST_PATH, CAMPAIGN)

    parts = urlsplit(shown)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "pbx.example.com",
        UPDATE_LEAD_FAST_PATH,
    )
    assert parse_qsl(parts.query) == [*CAMPAIGN.items(), ("apiKey", REDACTED)]


@pytest.mark.parametrize("name", ["apiKey", "apikey", "APIKEY", "ApiKey"])
def test_a_key_in_the_query_is_redacted_whatever_the_case_of_its_name(name: str) -> None:
    shown = redacted_url(BASE, "/p", {"fCampaignId": "1", name: "k3y-value"})

    assert "k3y-value" not in shown
    assert parse_qsl(urlsplit(shown).query) == [("fCampaignId", "1"), (name, REDACTED)]


def test_trailing_slash_and_path_prefix_of_the_base_are_kept_once() -> None:
    assert redacted_url("http://10.0.0.5:8080/noojee/", "/svc", {}) == (
        "http://10.0.0.5:8080/noojee/svc?apiKey=REDACTED"
    )


def test_password_and_key_inside_the_base_url_are_redacted() -> None:
    shown = redacted_url("https://ops:hunter2@pbx.example.com/?APIKEY=inbase", "/p", {})

    assert "hunter2" not in shown
    assert "inbase" not in shown
    assert shown == "https://ops:REDACTED@pbx.example.com/p?APIKEY=REDACTED"


def test_query_values_are_url_encoded() -> None:
    shown = redacted_url(BASE, "/p", {"fCampaignId": "a b&c=d"})

    assert parse_qsl(urlsplit(shown).query)[0] == ("fCampaignId", "a b&c=d")


@given(secret=st.text(alphabet=st.characters(codec="utf-8"), min_size=8, max_size=40))
def test_redacted_url_never_contains_the_key(secret: str) -> None:
    assume(secret not in redacted_url(BASE, UPDATE_LEAD_FAST_PATH, CAMPAIGN))  # e.g. "REDACTED"
    shown = redacted_url(BASE, UPDATE_LEAD_FAST_PATH, {**CAMPAIGN, "apiKey": secret})

    assert dict(parse_qsl(urlsplit(shown).query))["apiKey"] == REDACTED
    assert secret not in shown


def test_redact_text_masks_the_raw_and_url_encoded_secret() -> None:
    secret = "s3cret key+/="
    text = (
        f"failed: {secret} at http://pbx/p?apiKey=s3cret%20key%2B%2F%3D and "
        "http://pbx/p?apiKey=s3cret+key%2B%2F%3D&fCampaignId=4"
    )

    cleaned = redact_text(text, secret)

    assert "s3cret" not in cleaned
    assert "fCampaignId=4" in cleaned


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET http://pbx/p?x=1&apiKey=abc&y=2", "GET http://pbx/p?x=1&apiKey=REDACTED&y=2"),
        ("GET http://pbx/p?APIKEY=abc#frag", "GET http://pbx/p?APIKEY=REDACTED#frag"),
        ("params={'apiKey': 'abc', 'x': 1}", "params={'apiKey': 'REDACTED', 'x': 1}"),
        ('{"apikey":"abc"}', '{"apikey":"REDACTED"}'),
        ("no key here", "no key here"),
    ],
)
def test_redact_text_masks_any_api_key_parameter_even_without_the_secret(
    text: str, expected: str
) -> None:
    assert redact_text(text, "") == expected
