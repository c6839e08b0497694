"""The PBX client reads HTTPS_PROXY / HTTP_PROXY / NO_PROXY once, when it starts.

aiohttp's ``trust_env`` reads them, and ~/.netrc, in a thread for every request:
two thread hops a call, which cost more than half of the service's CPU in the
CPU-bound benchmark (scenario 3).
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from yarl import URL

from consumer.pbx.client import NoojeeClient, env_proxy

PBX = URL("https://pbx.example.com/servicemanager/rest/CampaignAPI/updateLeadFast")


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_the_proxy_named_for_the_scheme_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    proxy, auth = env_proxy(PBX)
    assert proxy == URL("http://proxy.internal:3128")
    assert auth is None


def test_no_proxy_and_no_variable_mean_a_direct_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert env_proxy(PBX) == (None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", ".example.com")
    assert env_proxy(PBX) == (None, None)


def test_credentials_in_the_proxy_url_become_its_authentication(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pa55@proxy.internal:3128")
    proxy, auth = env_proxy(PBX)
    assert auth is not None
    assert (auth.login, auth.password) == ("user", "pa55")
    assert proxy is not None
    assert proxy.host == "proxy.internal"


async def test_requests_do_not_consult_the_environment_again() -> None:
    client = NoojeeClient(
        "https://pbx.example.com",
        SecretStr("k"),
        request_timeout_s=75,
        connect_timeout_s=10,
        max_connections=4,
    )
    async with client:
        session = client._session
        assert session is not None
        assert session.trust_env is False
