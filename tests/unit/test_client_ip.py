"""The client address (§1): the socket peer; X-Forwarded-For only from trusted proxies, parsed, junk ignored."""

from __future__ import annotations

import ipaddress

import pytest
from ats.api.deps import parse_ip, resolve_client_ip

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)
PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("1.2.3.4:5678", "1.2.3.4"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
    ],
)
def test_addresses_parse_to_their_canonical_text(text: str, expected: str) -> None:
    assert str(parse_ip(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "<script>alert(1)</script>",
        "1" * 65,
        "1.2.3.4" + " " * 60 + "x",
        "fe80::1%<script>",  # a zone id is free text: Python's ipaddress would accept it
        "fe80::1%eth0",
        "01.2.3.4",
        "1.2.3.4:port",
        "[2001:db8::1",
        "[2001:db8::1]x",
        "unknown",
        "1.2.3.4.5",
    ],
)
def test_junk_is_not_an_address(text: str) -> None:
    assert parse_ip(text) is None


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert resolve_client_ip("203.0.113.9", ["1.2.3.4"], ()) == "203.0.113.9"
    assert resolve_client_ip("127.0.0.1", ["1.2.3.4"], ()) == "127.0.0.1"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert resolve_client_ip("203.0.113.9", ["1.2.3.4"], PROXIES) == "203.0.113.9"


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    assert resolve_client_ip("10.0.0.2", ["1.2.3.4, 10.0.0.7"], PROXIES) == "1.2.3.4"
    # What the client wrote itself (left of the first untrusted hop) is never believed.
    assert resolve_client_ip("10.0.0.2", ["6.6.6.6, 1.2.3.4, 10.0.0.7"], PROXIES) == "1.2.3.4"
    assert resolve_client_ip("127.0.0.1", ["9.9.9.9, 5.6.7.8"], LOOPBACK) == "5.6.7.8"
    assert resolve_client_ip("fd00::2", ["2001:db8::5, fd00::9"], PROXIES) == "2001:db8::5"


def test_several_header_lines_are_one_list_in_order() -> None:
    assert resolve_client_ip("10.0.0.2", ["1.2.3.4", "5.6.7.8, 10.0.0.7"], PROXIES) == "5.6.7.8"


def test_only_trusted_hops_or_no_header_leave_the_nearest_proxy() -> None:
    assert resolve_client_ip("10.0.0.2", [], PROXIES) == "10.0.0.2"
    assert resolve_client_ip("10.0.0.2", ["10.0.0.9, 10.0.0.7"], PROXIES) == "10.0.0.9"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (["<script>"], "127.0.0.1"),
        (["1" * 65], "127.0.0.1"),
        (["1.2.3.4, garbage"], "127.0.0.1"),  # junk ends the walk: nothing left of it is believed
        (["garbage, 1.2.3.4"], "1.2.3.4"),
        (["fe80::1%<script>"], "127.0.0.1"),
        ([", ,"], "127.0.0.1"),
    ],
)
def test_junk_falls_back_to_the_peer(forwarded: list[str], expected: str) -> None:
    assert resolve_client_ip("127.0.0.1", forwarded, LOOPBACK) == expected


def test_junk_behind_a_chain_falls_back_to_the_proxy_that_wrote_it() -> None:
    assert resolve_client_ip("10.0.0.2", ["garbage, 10.0.0.7"], PROXIES) == "10.0.0.7"


def test_the_peer_itself_is_normalised_and_never_invented() -> None:
    assert resolve_client_ip("::ffff:127.0.0.1", ["1.2.3.4"], LOOPBACK) == "1.2.3.4"
    assert resolve_client_ip(None, ["1.2.3.4"], LOOPBACK) == "0.0.0.0"
    assert resolve_client_ip("testclient", ["1.2.3.4"], LOOPBACK) == "0.0.0.0"
