"""Webhook rules without a database: the retry schedule, forbidden targets, URL checks, signatures."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from ats.delivery import JITTER, retry_delay, schedule
from ats.settings import Settings, load_settings
from ats.webhook_http import forbidden_kind, headers_for, new_secret, url_problem


def test_default_backoff_retries_at_least_10_times_over_at_least_3_days() -> None:
    settings = load_settings({})
    delays = schedule(settings)
    assert settings.webhooks_max_attempts >= 10 and len(delays) == settings.webhooks_max_attempts - 1
    assert sum(delays) >= 3 * 86400  # the least the retries span, jitter only adds
    assert delays == sorted(delays) and delays[0] == settings.webhooks_retry_base
    assert delays[1] == 2 * delays[0]  # exponential
    assert max(delays) == settings.webhooks_retry_cap
    rng = random.Random(7)
    for attempt, least in enumerate(delays, start=1):
        for _ in range(20):
            assert least <= retry_delay(attempt, settings, rng) <= least * (1 + JITTER)
    spread = {round(retry_delay(3, settings, rng), 3) for _ in range(20)}
    assert len(spread) > 1  # jitter


def test_retry_settings_parse_fractions_and_durations() -> None:
    settings = load_settings({"ATS_WEBHOOKS_RETRY_BASE": "0.05", "ATS_WEBHOOKS_RETRY_CAP": "2h"})
    assert settings.webhooks_retry_base == 0.05 and settings.webhooks_retry_cap == 7200.0
    with pytest.raises(ValueError, match="ATS_WEBHOOKS_RETRY_BASE"):
        load_settings({"ATS_WEBHOOKS_RETRY_BASE": "-1"})


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "unique-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "reserved"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_forbidden_targets(address: str, kind: str | None) -> None:
    assert forbidden_kind(ipaddress.ip_address(address)) == kind


def test_url_checks() -> None:
    strict = {"allow_http": False, "allow_private": False}
    assert url_problem("https://hooks.example.com/ats?x=1", **strict) is None
    assert url_problem("http://hooks.example.com/ats", **strict) is not None
    assert url_problem("http://hooks.example.com/ats", allow_http=True, allow_private=False) is None
    assert url_problem("https://10.0.0.8/x", **strict) == "must not name a private address"
    assert url_problem("https://10.0.0.8/x", allow_http=False, allow_private=True) is None
    for bad in ("https://a:b@example.com/", "https:///x", "mailto:a@example.com", "https://example.com:99999/"):
        assert url_problem(bad, **strict) is not None, bad


def test_signatures_verify_with_the_standard_library() -> None:
    old, new = new_secret(), new_secret()
    assert new.startswith("whsec_") and old != new
    body = b'{"id":"e1","data":{"name":"J\xc3\xbcrgen"}}'
    headers = headers_for("e1", [new, old], body, datetime.now(UTC))
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (new, old):
        assert Webhook(secret).verify(body, headers)["data"]["name"] == "Jürgen"


def test_settings_defaults_are_production_safe() -> None:
    settings = Settings()
    assert not settings.webhooks_allow_http and not settings.webhooks_allow_private and settings.webhooks_delivery
    assert settings.webhooks_timeout == 10.0 and settings.webhooks_disable_after == 5 * 86400
