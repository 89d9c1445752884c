"""Settings: every WIRETAG_ variable parsed once, a bad value named in the error."""

from __future__ import annotations

import pytest

import settings
from common.booleans import FALSE_WORDS, TRUE_WORDS, parse_bool
from service.errors import Unprocessable
from service.validation import parse_explain
from settings import SettingsError

WORDS = [*TRUE_WORDS, *FALSE_WORDS, "TRUE", " Off ", "On"]
BAD_WORDS = ["maybe", "2", "enabled", "nope", "t"]


@pytest.mark.parametrize("word", WORDS)
def test_settings_and_query_arguments_read_a_word_alike(word: str) -> None:
    expected = word.strip().lower() in TRUE_WORDS
    env = {"WIRETAG_ALLOW_PRIVATE_NETWORKS": word}
    assert settings.from_env(env).allow_private_networks is expected
    assert parse_explain({"explain": word}) is expected
    assert parse_bool(word) is expected


@pytest.mark.parametrize("word", BAD_WORDS)
def test_settings_and_query_arguments_refuse_a_word_alike(word: str) -> None:
    with pytest.raises(SettingsError, match=r"WIRETAG_ALLOW_PRIVATE_NETWORKS=.*true or false"):
        settings.from_env({"WIRETAG_ALLOW_PRIVATE_NETWORKS": word})
    with pytest.raises(Unprocessable, match="'explain' must be true or false") as caught:
        parse_explain({"explain": word})
    assert caught.value.field == "explain"


def test_an_empty_true_false_setting_is_its_default() -> None:
    assert (
        settings.from_env({"WIRETAG_ALLOW_PRIVATE_NETWORKS": " "}).allow_private_networks is False
    )
    with pytest.raises(Unprocessable):
        parse_explain({"explain": ""})  # a query argument says something


@pytest.mark.parametrize(
    ("raw", "expected"), [("json", "json"), (" TEXT ", "text"), ("auto", "auto")]
)
def test_log_format_is_json_text_or_auto(raw: str, expected: str) -> None:
    assert settings.Settings().log_format == "auto"
    assert settings.from_env({"WIRETAG_LOG_FORMAT": raw}).log_format == expected


def test_an_unknown_log_format_is_refused_by_name() -> None:
    with pytest.raises(
        SettingsError, match=r"WIRETAG_LOG_FORMAT='yaml': must be auto, json or text"
    ):
        settings.from_env({"WIRETAG_LOG_FORMAT": "yaml"})
