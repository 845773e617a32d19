"""Pure rules about people (§13): matching keys, merge field by field, the stricter consent, undo, scores."""

from __future__ import annotations

from datetime import UTC, datetime

from ats.candidate_rules import (
    ConsentState,
    duplicate_score,
    email_key,
    merge_fields,
    normalise_link,
    normalise_phone,
    normalise_tag,
    stricter_consent,
    undo_values,
    unite,
)

EARLY, LATE = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)


def test_phones_become_e164_when_they_parse() -> None:
    assert normalise_phone("+49 30 1234567") == "+49301234567"
    assert normalise_phone("+49 (30) 123-4567") == "+49301234567"
    assert normalise_phone("030 1234567", "DE") == "+49301234567"
    assert normalise_phone("030 1234567") == "0301234567"  # no country: its digits, still comparable
    assert normalise_phone("  ") is None and normalise_phone(None) is None and normalise_phone("call me") is None


def test_emails_links_and_tags_normalise() -> None:
    assert email_key("  Ada@Example.COM ") == "ada@example.com"
    assert normalise_link("https://www.LinkedIn.com/in/ada/") == normalise_link("linkedin.com/in/ada")
    assert normalise_link("http://github.com/ada?tab=repos") == "github.com/ada"
    assert normalise_tag("  Senior   Dev ") == "senior dev"
    assert normalise_tag("c++") == "c++"
    for bad in ("", "   ", "<b>", "x" * 51, "-leading"):
        assert normalise_tag(bad) is None
    assert unite(["A@x.io"], ["a@x.io", "b@x.io"], email_key) == ["A@x.io", "b@x.io"]


def test_the_stricter_consent_wins() -> None:
    pool = ConsentState(True, "v2", True, LATE, "10.0.0.1")
    no_pool = ConsentState(True, "v1", False, EARLY, "10.0.0.2")
    assert stricter_consent(pool, no_pool) is no_pool and stricter_consent(no_pool, pool) is no_pool
    none = ConsentState(False, None, False, None, None)
    assert stricter_consent(none, no_pool) is none
    later = ConsentState(True, "v3", False, LATE, None)
    assert stricter_consent(no_pool, later) is later  # same terms: the later declaration


def test_a_merge_keeps_the_survivor_fills_gaps_unites_lists_and_reports_conflicts() -> None:
    survivor = {"name": "Ana Lima", "city": None, "emails": ["a@x.io"], "tags": ["java"], "consent_talent_pool": True}
    other = {
        "name": "Ana B. Lima",
        "city": "Porto",
        "emails": ["A@x.io", "b@x.io"],
        "tags": ["python", "java"],
        "consent_privacy_policy": True,
        "consent_talent_pool": False,
        "consented_at": EARLY,
    }
    values, outcomes = merge_fields(survivor, other)
    by_field = {o.field: o for o in outcomes}
    assert values["name"] == "Ana Lima" and by_field["name"].conflict and by_field["name"].rule == "kept"
    assert values["city"] == "Porto" and by_field["city"].rule == "taken" and not by_field["city"].conflict
    assert values["emails"] == ["a@x.io", "b@x.io"] and values["tags"] == ["java", "python"]
    assert values["consent_talent_pool"] is False and by_field["consent"].rule == "stricter"


def test_undo_restores_what_the_merge_set_and_keeps_what_changed_since() -> None:
    before = {"name": "Ana", "city": None, "tags": ["java"]}
    merged = {"name": "Ana", "city": "Porto", "tags": ["java", "python"]}
    now = {"name": "Ana Maria", "city": "Porto", "tags": ["java", "python", "lead"]}
    assert undo_values(before, merged, now) == {"name": "Ana Maria", "city": None, "tags": ["java", "lead"]}


def test_duplicate_scores_combine_reasons() -> None:
    assert duplicate_score({"same_email": 1.0}) == 1.0
    assert duplicate_score({"same_phone": 0.9}) == 0.9
    assert duplicate_score({"same_phone": 0.9, "same_link": 0.9}) == 0.99
    assert 0 < duplicate_score({"similar_name_same_city": 0.45}) < duplicate_score({"same_phone": 0.9})
    assert duplicate_score({}) == 0.0
