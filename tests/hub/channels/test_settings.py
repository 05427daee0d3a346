"""Channel settings from YAML: secrets resolved, typos refused, nothing secret printed."""

from __future__ import annotations

import pytest

from hub.channels.settings import ChannelSettings
from vivant.config_file import ConfigError, parse_yaml

YAML = """
sites:
  ekilibre:
    apprise_urls:
      - {env: VIVANT_TEST_SLACK}
      - ntfys://ntfy.example.org/ekilibre-staff
webhooks:
  - id: crm
    url: https://crm.example.org/hooks/vivant
    secret: {env: VIVANT_TEST_HOOK_SECRET}
retry:
  max_attempts: 4
"""


def test_settings_resolve_secrets_and_hide_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVANT_TEST_SLACK", "slack://T000/B000/XXXXtokenXXXX")
    monkeypatch.setenv("VIVANT_TEST_HOOK_SECRET", "0123456789abcdef-long")
    settings = parse_yaml(YAML, ChannelSettings, "hub.yaml")

    urls = settings.sites["ekilibre"].apprise_urls
    assert urls[0].get_secret_value() == "slack://T000/B000/XXXXtokenXXXX"
    assert settings.webhooks[0].secret.get_secret_value() == "0123456789abcdef-long"
    assert settings.retry.max_attempts == 4
    assert "XXXXtokenXXXX" not in repr(settings)
    assert "0123456789abcdef" not in str(settings)


@pytest.mark.parametrize(
    ("snippet", "error"),
    [
        ("webhooks: [{id: crm, url: 'https://x.example/h', secret: short}]", "at least 16"),
        ("webhooks: [{id: crm, url: 'ftp://x.example/h', secret: 0123456789abcdefg}]", "http"),
        ("webhooks: [{id: CRM!, url: 'https://x.example/h', secret: 0123456789abcdefg}]", "id"),
        ("retry: {max_attemps: 3}", "max_attemps"),
        ("queue_size: 0", "queue_size"),
    ],
)
def test_invalid_settings_are_refused_with_their_line(snippet: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as raised:
        parse_yaml(snippet, ChannelSettings, "hub.yaml")
    assert "hub.yaml:1" in str(raised.value)


def test_duplicate_webhook_ids_are_refused() -> None:
    hook = "{id: crm, url: 'https://x.example/h', secret: 0123456789abcdefg}"
    with pytest.raises(ConfigError, match="duplicate webhook ids: crm"):
        parse_yaml(f"webhooks: [{hook}, {hook}]", ChannelSettings, "hub.yaml")
