"""Text signals: the same counts on ASCII and non-ASCII text, whichever path computes them."""

import dataclasses

import pytest

from service.scoring.text_signals import describe_counts, describe_text


def test_counts_a_shouting_review() -> None:
    s = describe_text("AMAZING product!!! Best EVER!! Buy it :) don't wait")
    assert s.exclamations == 5 and s.exclamation_runs == 2 and s.emoticons == 1
    assert s.n_words == 8
    letters = sum(c.isalpha() for c in "AMAZING product!!! Best EVER!! Buy it :) don't wait")
    upper = sum(c.isupper() for c in "AMAZING product!!! Best EVER!! Buy it :) don't wait")
    assert s.uppercase_share == pytest.approx(upper / letters)
    assert s.extreme_share == pytest.approx(2 / 8)  # amazing, best


def test_non_ascii_text_counts_letters_and_capitals_alike() -> None:
    text = "ÉNORME café, très BON et pas cher du tout. À recommander 😀"
    s = describe_text(text)
    letters = sum(c.isalpha() for c in text)
    upper = sum(c.isupper() for c in text)
    assert s.uppercase_share == pytest.approx(upper / letters)
    assert s.emoticons == 1


def test_repetition_is_measured_on_content_words() -> None:
    s = describe_text("great great great great kettle, great price, great")
    assert s.top_word == "great" and s.top_word_repeats == 6
    assert s.distinct_share == pytest.approx(3 / 8)


def test_empty_text() -> None:
    s = describe_text("")
    assert s.n_words == 0 and s.uppercase_share == 0.0 and s.distinct_share == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "AMAZING product!!! Best EVER!! Buy it :) don't wait",
        "ÉNORME café, très BON et pas cher du tout. À recommander 😀",
        "great great great great kettle, great price, great",
        "",
        "!!",
    ],
)
def test_describe_counts_are_describe_texts_fields(text: str) -> None:
    s = describe_text(text)
    fields = dataclasses.astuple(s)
    assert fields[0] == len(text)
    assert describe_counts(text) == fields[1:]
