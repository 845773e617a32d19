"""The bounds of custom_fields and answers (§8): one rule, checked here without a database."""

from __future__ import annotations

from typing import Any

from ats.custom_fields import MAX_DEPTH, MAX_ELEMENTS, MAX_KEYS, MAX_STRING, problems


def nested(levels: int, leaf: Any = "x") -> dict[str, Any]:
    """``levels`` nested objects (the outermost being level 1), keys ``l1`` … ``lN``."""
    value: Any = leaf
    for level in range(levels, 0, -1):
        value = {f"l{level}": value}
    assert isinstance(value, dict)
    return value


def pointers(value: Any, base: str = "/custom_fields") -> list[tuple[str, str]]:
    return [(e.pointer, e.code) for e in problems(value, base)]


def test_values_at_every_bound_pass() -> None:
    assert MAX_DEPTH == 8 and MAX_KEYS == 100 and MAX_STRING == 10_000
    assert problems(nested(MAX_DEPTH), "/custom_fields") == []
    assert problems({f"k{i}": "Ł" * MAX_STRING for i in range(MAX_KEYS)}, "/custom_fields") == []
    assert problems({"王" * MAX_STRING: "Ж"}, "/custom_fields") == []
    assert problems({"list": [[[1, 2.5, True, None]]]}, "/custom_fields") == []
    assert problems({}, "/custom_fields") == []


def test_one_past_each_bound_is_named_by_its_pointer() -> None:
    assert pointers(nested(MAX_DEPTH + 1)) == [("/custom_fields/l1/l2/l3/l4/l5/l6/l7/l8", "too_deep")]
    assert pointers({"a": {f"k{i}": 1 for i in range(MAX_KEYS + 1)}}) == [("/custom_fields/a", "too_many_keys")]
    assert pointers({"a": ["ok", "Ж" * (MAX_STRING + 1)]}) == [("/custom_fields/a/1", "too_long")]
    assert pointers({"a" * (MAX_STRING + 1): 1}) == [("/custom_fields/" + "a" * (MAX_STRING + 1), "too_long")]
    # arrays are levels too
    assert pointers({"a": [[[[[[[[1]]]]]]]]}) == [("/custom_fields/a/0/0/0/0/0/0/0", "too_deep")]


def test_pointers_escape_keys() -> None:
    assert pointers({"a/b": {"c~d": "x" * (MAX_STRING + 1)}}, "/data/attributes/custom_fields") == [
        ("/data/attributes/custom_fields/a~1b/c~0d", "too_long")
    ]


def test_every_problem_is_reported() -> None:
    value = {"long": "x" * (MAX_STRING + 1), "deep": nested(MAX_DEPTH), "n": float("nan"), "i": float("inf")}
    assert pointers(value) == [
        ("/custom_fields/long", "too_long"),
        ("/custom_fields/deep/l1/l2/l3/l4/l5/l6/l7", "too_deep"),
        ("/custom_fields/n", "invalid"),
        ("/custom_fields/i", "invalid"),
    ]


def test_hostile_inputs_cost_bounded_work() -> None:
    deep: Any = "x"
    for _ in range(100_000):  # far past Python's recursion limit: the walk is iterative and stops at the bound
        deep = [deep]
    assert pointers({"d": deep}) == [("/custom_fields/d/0/0/0/0/0/0/0", "too_deep")]
    wide = {"a": [[i] for i in range(10 * MAX_ELEMENTS)]}
    assert ("/custom_fields", "too_large") in pointers(wide)
    assert len(problems(wide, "/custom_fields")) == 1
    assert problems({"a": list(range(MAX_ELEMENTS - 2))}, "/custom_fields") == []
    assert pointers({"a": list(range(MAX_ELEMENTS - 1))}) == [("/custom_fields", "too_large")]
    # counted before any pointer is built: half a million values (what a 1 MiB body can hold) cost no more
    assert pointers({"a": [0] * 500_000, **{f"k{i}": 0 for i in range(500_000)}}) == [("/custom_fields", "too_large")]
