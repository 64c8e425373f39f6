"""SSRF policy: which addresses may be webhook targets, URL validation, and resolution-time refusal."""

import pytest

from calsync.outbound.ssrf import (
    MAX_URL_LENGTH,
    ResolutionFailed,
    TargetPolicy,
    TargetRefused,
    refusal_reason,
    validate_webhook_url,
    vet_url,
)
from calsync.settings import Settings

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "100::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "::127.0.0.1",  # IPv4-compatible
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.32.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:82a::200e",
    "::ffff:8.8.8.8",  # mapped public
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8: must work on IPv6-only hosts
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address):
    assert refusal_reason(address) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_allowed_addresses(address):
    assert refusal_reason(address) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::1", "169.254.169.254", "::ffff:192.168.0.1"])
def test_private_targets_allowed_by_setting(address):
    assert refusal_reason(address, allow_private=True) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"])
def test_never_a_target_even_with_private_allowed(address):
    assert refusal_reason(address, allow_private=True) is not None


@pytest.mark.parametrize(
    ("url", "allow_http", "error"),
    [
        ("https://hooks.example.com/calsync", False, None),
        ("https://hooks.example.com:8443/x?y=1", False, None),
        ("https://bücher.example/x", False, None),
        ("http://hooks.example.com/", False, "https"),
        ("http://hooks.example.com/", True, None),
        ("ftp://hooks.example.com/", True, "https"),
        ("hooks.example.com/path", False, "https"),
        ("https:///path", False, "host"),
        ("https://user:pw@hooks.example.com/", False, "credentials"),
        ("https://user@hooks.example.com/", False, "credentials"),
        ("https://hooks.example.com:99999/", False, "not valid"),
        ("https://hooks.example.com:0/", False, "port"),
        ("https://hooks.example.com/a b", False, "whitespace"),
        ("https://hooks.example.com/\n", False, "whitespace"),
        ("https://hooks.example.com/\x00", False, "control"),
        ("https://hooks.example.com/\ud800", False, "surrogate"),
        ("https://hooks.example.com/" + "a" * MAX_URL_LENGTH, False, "2048"),
        ("https://127.0.0.1/", False, "not allowed"),
        ("https://[::1]:8443/", False, "not allowed"),
        ("https://169.254.169.254/latest/meta-data", False, "not allowed"),
        ("https://8.8.8.8/", False, None),
    ],
)
def test_validate_webhook_url(url, allow_http, error):
    result = validate_webhook_url(url, allow_http)
    if error is None:
        assert result is None
    else:
        assert result is not None and error in result


def test_validate_allows_private_literal_when_allowed():
    assert validate_webhook_url("http://127.0.0.1:9000/hook", True, allow_private=True) is None


def test_policy_from_settings_defaults_to_strict():
    assert TargetPolicy.from_settings(Settings()) == TargetPolicy(allow_http=False, allow_private=False)
    relaxed = Settings(webhook_allow_http=True, webhook_allow_private_targets=True)
    assert TargetPolicy.from_settings(relaxed) == TargetPolicy(allow_http=True, allow_private=True)


async def test_localhost_resolves_to_loopback_and_is_refused():
    with pytest.raises(TargetRefused, match="refused address"):
        await vet_url("https://localhost/hook", TargetPolicy())


async def test_localhost_allowed_when_private_targets_allowed():
    target = await vet_url("http://localhost:8080/hook", TargetPolicy(allow_http=True, allow_private=True))
    assert target.host == "localhost" and target.port == 8080 and target.scheme == "http"
    assert any(a in ("127.0.0.1", "::1") for a in target.addresses)


async def test_any_refused_record_refuses_the_name():
    async def mixed(host, port):
        return ["93.184.216.34", "10.0.0.5", "93.184.216.34"]

    with pytest.raises(TargetRefused, match=r"10\.0\.0\.5"):
        await vet_url("https://mixed.example/", TargetPolicy(), resolver=mixed)


async def test_vetted_addresses_deduplicated_and_host_idna_encoded():
    seen = []

    async def public(host, port):
        seen.append((host, port))
        return ["93.184.216.34", "93.184.216.34", "2606:2800:220:1::1"]

    target = await vet_url("https://Bücher.example/x", TargetPolicy(), resolver=public)
    assert seen == [("xn--bcher-kva.example", 443)]
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1::1")


async def test_resolution_failure_and_bad_scheme_are_refusals():
    async def nxdomain(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(ResolutionFailed, match="could not resolve"):
        await vet_url("https://nope.example/", TargetPolicy(), resolver=nxdomain)
    with pytest.raises(TargetRefused, match="https"):
        await vet_url("http://hooks.example/", TargetPolicy(), resolver=nxdomain)


async def test_ip_literal_skips_dns():
    async def must_not_resolve(host, port):
        raise AssertionError("resolver called for a literal")

    target = await vet_url("https://[2606:4700:4700::1111]:8443/", TargetPolicy(), resolver=must_not_resolve)
    assert target.addresses == ("2606:4700:4700::1111",) and target.port == 8443


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1%09:8000/h", "https://%00/", "https://xn--/", "https://127.1/", "https://a_b.example/"]
)
async def test_malformed_hosts_are_refused_before_any_lookup(url):
    """Even where http and private targets are allowed (and for URLs stored before hosts were checked at
    creation), a host that is not a name or an address is refused at delivery without asking a resolver."""

    async def must_not_resolve(host, port):
        raise AssertionError(f"resolver called for {host!r}")

    assert validate_webhook_url(url, True, allow_private=True) is not None
    with pytest.raises(TargetRefused, match="URL host"):
        await vet_url(url, TargetPolicy(allow_http=True, allow_private=True), resolver=must_not_resolve)
