"""Tests for perfprobe.conf: defaults, validation messages, cache clearing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from perfprobe.checks import check_settings
from perfprobe.conf import get_settings, load_settings, settings_problems


def test_defaults_match_the_documented_thresholds() -> None:
    """Unset keys take the documented defaults."""
    conf = load_settings({})
    assert conf.SLOW_OPERATION_SECONDS == 1.0
    assert conf.SLOW_QUERY_SECONDS == 0.5
    assert conf.HIGH_MEMORY_MB == 100.0
    assert conf.N_PLUS_ONE_MIN_QUERIES == 5
    assert conf.STORE_SQL_PARAMETERS is False


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"SLOW_QUERY_SECONDS": -1}, "SLOW_QUERY_SECONDS"),
        ({"SLOW_QUERY_SECONDS": "fast"}, "SLOW_QUERY_SECONDS"),
        ({"HIGH_MEMORY_MB": float("nan")}, "HIGH_MEMORY_MB"),
        ({"N_PLUS_ONE_MIN_QUERIES": 1}, "N_PLUS_ONE_MIN_QUERIES"),
        ({"RECENT_EVENTS_SIZE": 2.5}, "RECENT_EVENTS_SIZE"),
        ({"ENABLED": "yes"}, "ENABLED"),
        ({"CALL_SITE_EXCLUDE": "apps/"}, "CALL_SITE_EXCLUDE"),
        ({"CALL_SITE_EXCLUDE": None}, "CALL_SITE_EXCLUDE"),
        ({"CALL_SITE_EXCLUDE": 5}, "CALL_SITE_EXCLUDE"),
        ({"CALL_SITE_EXCLUDE": [""]}, "CALL_SITE_EXCLUDE"),
        ({"RECENT_EVENTS_SIZE": 10**100}, "RECENT_EVENTS_SIZE"),
        ({"MAX_SCOPE_HISTORY": 2**63}, "MAX_SCOPE_HISTORY"),
        ({"SLOW_QUERY_SECOND": 1}, "SLOW_QUERY_SECOND"),
        ({"MAX_CALL_SITES": 0}, "MAX_CALL_SITES"),
        ({"MAX_TAG_KEYS": "10"}, "MAX_TAG_KEYS"),
        ({"MAX_TAG_VALUES": True}, "MAX_TAG_VALUES"),
        ({"MAX_ERROR_TYPES": -5}, "MAX_ERROR_TYPES"),
    ],
)
def test_bad_values_name_the_key(raw: dict[str, object], key: str) -> None:
    """Each bad value raises ImproperlyConfigured naming the offending key."""
    with pytest.raises(ImproperlyConfigured, match=key):
        load_settings(raw)


def test_not_a_dict_is_rejected() -> None:
    """PERFPROBE must be a dict."""
    with pytest.raises(ImproperlyConfigured, match="must be a dict"):
        load_settings(["SLOW_QUERY_SECONDS"])


def test_override_settings_clears_the_cache() -> None:
    """override_settings on PERFPROBE is seen by get_settings at once."""
    assert get_settings().SLOW_QUERY_SECONDS == 0.5
    with override_settings(PERFPROBE={"SLOW_QUERY_SECONDS": 0.25}):
        assert get_settings().SLOW_QUERY_SECONDS == 0.25
    assert get_settings().SLOW_QUERY_SECONDS == 0.5


def test_system_check_reports_bad_settings() -> None:
    """A bad PERFPROBE value becomes system check perfprobe.E001."""
    with override_settings(PERFPROBE={"HIGH_MEMORY_MB": 0}):
        (message,) = check_settings()
    assert message.id == "perfprobe.E001"
    assert "HIGH_MEMORY_MB" in message.msg


# Four faults of different kinds, and how the message of each begins.
SEVERAL_FAULTS = {
    "SLOW_QUERY_SECONDS": -3,
    "ENABLED": "yes",
    "EXCLUDE_PATHS": ["healthz"],
    "SLOW_QUERY_SECOND": 1,  # misspelt: an unknown key
}
FAULT_MESSAGES = [
    "PERFPROBE has unknown key SLOW_QUERY_SECOND (did you mean SLOW_QUERY_SECONDS?).",
    "PERFPROBE['SLOW_QUERY_SECONDS'] is -3; ",
    "PERFPROBE['ENABLED'] is 'yes'; ",
    "PERFPROBE['EXCLUDE_PATHS'] is ['healthz']; ",
]


def test_every_fault_is_named_at_once() -> None:
    """One load names every bad value and the unknown key, not only the first."""
    with pytest.raises(ImproperlyConfigured) as caught:
        load_settings(SEVERAL_FAULTS)

    message = str(caught.value)
    for beginning in FAULT_MESSAGES:
        assert beginning in message
    assert "\n" not in message


def test_system_check_reports_each_fault() -> None:
    """check_settings gives one E001 per fault, each naming its own key."""
    with override_settings(PERFPROBE=SEVERAL_FAULTS):
        messages = check_settings()

    assert [m.id for m in messages] == ["perfprobe.E001"] * len(FAULT_MESSAGES)
    for message, beginning in zip(messages, FAULT_MESSAGES, strict=True):
        assert message.msg.startswith(beginning)


def test_an_unknown_key_is_named_with_the_closest_known_one() -> None:
    """A misspelling gets a guess; a key like none of the known ones none."""
    problems = settings_problems({"sample_rate": 0.5, "COLOUR_SCHEME": "dark"})
    assert problems[0] == (
        "PERFPROBE has unknown key sample_rate (did you mean SAMPLE_RATE?)."
    )
    assert problems[1].startswith(
        "PERFPROBE has unknown key(s) COLOUR_SCHEME; known keys are "
    )
    assert len(problems) == 2


def test_numbers_too_big_for_a_float_or_a_str_are_faults_named_with_the_rest() -> None:
    """10**400 overflows a float, 10**5000 has no str(): each is one fault."""
    raw = {
        "SLOW_QUERY_SECONDS": 10**400,
        "MAX_METRICS": 10**5000,
        "SAMPLE_RATE": 2,
    }
    problems = settings_problems(raw)
    assert len(problems) == 3
    for key, problem in zip(raw, problems, strict=True):
        assert problem.startswith(f"PERFPROBE[{key!r}] is ")
        assert len(problem) < 300
    with pytest.raises(ImproperlyConfigured):
        load_settings(raw)


@pytest.mark.parametrize(
    ("key", "entries", "bad", "named"),
    [
        ("EXCLUDE_PATHS", [f"/p{i}/" for i in range(2000)], "health/", "'health/'"),
        ("CALL_SITE_EXCLUDE", [f"lib{i}/" for i in range(2000)], "", "''"),
    ],
)
def test_a_long_list_with_one_bad_entry_is_one_short_line_naming_it(
    key: str, entries: list[str], bad: str, named: str
) -> None:
    """The message shows the list shortened and names the bad entry's place.

    A 2,000-entry list with one entry wrong was shown whole: a start-up
    error line of 20,000 characters, with nothing to find the entry by.
    """
    entries[1234] = bad
    (problem,) = settings_problems({key: entries})

    assert problem.startswith(f"PERFPROBE[{key!r}] is [")
    assert f"item 1234 is {named}" in problem
    assert len(problem) < 300
    assert "\n" not in problem


def test_a_long_text_of_the_wrong_type_is_shown_shortened() -> None:
    """A 100,000-character text given for a number is shown by its ends."""
    (problem,) = settings_problems({"SAMPLE_RATE": "0" * 100_000})

    assert problem.startswith("PERFPROBE['SAMPLE_RATE'] is '000")
    assert len(problem) < 200
