"""Careers board rules, the schema.org mapping and ETag matching: pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ats.api.http_cache import etag_of, matches

from ats.careers import is_slug, job_posting_json_ld, normalize_origins, slugify
from ats.settings import SettingsError, load_settings
from ats.vocabulary import EMPLOYMENT_TYPES


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("ACME GmbH", "acme-gmbh"),
        ("  Zürich Café & Co. ", "zurich-cafe-co"),
        ("--Foo__Bar--", "foo-bar"),
        ("王", "board"),
        ("x", "board"),
        ("a" * 80, "a" * 63),
        ("a" * 62 + " b", "a" * 62),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug
    assert is_slug(slugify(name))


@pytest.mark.parametrize("slug", ["ab", "acme", "acme-2", "0-9", "a" * 63])
def test_good_slugs(slug: str) -> None:
    assert is_slug(slug)


@pytest.mark.parametrize("slug", ["a", "Acme", "-acme", "acme-", "ac me", "a" * 64, "acme\n", "ac_me", ""])
def test_bad_slugs(slug: str) -> None:
    assert not is_slug(slug)


def test_origins_are_normalized_as_browsers_send_them() -> None:
    assert normalize_origins(["https://Careers.Example.com/", "https://careers.example.com", "http://[::1]:8080"]) == [
        "https://careers.example.com",
        "http://[::1]:8080",
    ]
    for bad in ["careers.example.com", "https://x.example/path", "*", "null", "ftp://x.example", "https://x?y"]:
        with pytest.raises(ValueError):
            normalize_origins([bad])
    with pytest.raises(ValueError, match="at most"):
        normalize_origins([f"https://{i}.example" for i in range(21)])


def test_cors_settings() -> None:
    settings = load_settings(
        {
            "ATS_CORS_ORIGINS": "https://careers.example.com/, https://jobs.example.com",
            "ATS_CORS_DASHBOARD_ORIGINS": "https://app.example.com",
            "ATS_S3_PUBLIC_ENDPOINT_URL": "https://s3.example.com",
        }
    )
    assert settings.cors_origins == ("https://careers.example.com", "https://jobs.example.com")
    assert settings.cors_dashboard_origins == ("https://app.example.com",)
    assert settings.s3_public_endpoint_url == "https://s3.example.com"
    assert load_settings({}).cors_origins == ()
    with pytest.raises(SettingsError, match="ATS_CORS_ORIGINS"):
        load_settings({"ATS_CORS_ORIGINS": "*"})


def _ld(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "job_id": "1e9f",
        "title": "Engineer",
        "description": "Build things.",
        "employment_type": "full_time",
        "location": "Berlin",
        "created_at": datetime(2025, 1, 16, 9, 0, tzinfo=UTC),
        "closes_at": None,
        "organization": "ACME",
    }
    fields.update(overrides)
    return job_posting_json_ld(**fields)  # type: ignore[arg-type]


def test_json_ld_required_and_recommended_fields() -> None:
    ld = _ld(closes_at=datetime(2025, 2, 1, tzinfo=UTC))
    assert ld["@type"] == "JobPosting" and ld["datePosted"] == "2025-01-16T09:00:00Z"
    assert ld["validThrough"] == "2025-02-01T00:00:00Z"
    assert ld["hiringOrganization"] == {"@type": "Organization", "name": "ACME"}
    assert ld["jobLocation"] == {"@type": "Place", "address": {"@type": "PostalAddress", "addressLocality": "Berlin"}}
    assert ld["identifier"] == {"@type": "PropertyValue", "name": "ACME", "value": "1e9f"}
    assert "baseSalary" not in ld  # postings carry no salary


def test_json_ld_employment_types_cover_the_vocabulary() -> None:
    schema_values = {"FULL_TIME", "PART_TIME", "CONTRACTOR", "TEMPORARY", "INTERN", "VOLUNTEER", "PER_DIEM", "OTHER"}
    mapped = {t: _ld(employment_type=t)["employmentType"] for t in EMPLOYMENT_TYPES}
    assert set(mapped.values()) <= schema_values and "OTHER" not in mapped.values()
    assert mapped["contract"] == "CONTRACTOR" and mapped["internship"] == "INTERN"


@pytest.mark.parametrize("location", ["Remote", "remote (EU)", "Anywhere", "Telecommute"])
def test_json_ld_remote(location: str) -> None:
    ld = _ld(location=location)
    assert ld["jobLocationType"] == "TELECOMMUTE" and "jobLocation" not in ld


def test_json_ld_without_location_or_description() -> None:
    ld = _ld(location=None, description=None)
    assert "jobLocation" not in ld and "jobLocationType" not in ld
    assert ld["description"] == "Engineer"


def test_etag_matching() -> None:
    tag = etag_of(b"{}")
    assert tag.startswith('"') and tag.endswith('"') and tag != etag_of(b"[]")
    assert matches(tag, tag) and matches(f"W/{tag}", tag) and matches(f'"x", {tag}', tag) and matches("*", tag)
    assert not matches(None, tag) and not matches("", tag) and not matches('"x"', tag) and not matches(tag[1:], tag)
