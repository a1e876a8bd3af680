"""The questionnaire: answers parsed and checked by the question's type, set all or nothing."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from crm.models import ProfileAnswer, ProfileQuestion
from crm.services import profile_answer_set, profile_answers_get, profile_answers_set
from tests.factories.crm import (
    CustomerFactory,
    ProfileQuestionChoiceFactory,
    ProfileQuestionFactory,
)

pytestmark = pytest.mark.django_db
Kind = ProfileQuestion.AnswerType


@pytest.fixture
def questions():
    pets = ProfileQuestionFactory(code="pets", answer_type=Kind.MULTI_CHOICE)
    for value in ("dog", "cat", "fish"):
        ProfileQuestionChoiceFactory(question=pets, value=value)
    district = ProfileQuestionFactory(code="district", answer_type=Kind.CHOICE)
    for value in ("centre", "left_bank"):
        ProfileQuestionChoiceFactory(question=district, value=value)
    return {
        "hobby": ProfileQuestionFactory(code="hobby", answer_type=Kind.TEXT),
        "height": ProfileQuestionFactory(code="height", answer_type=Kind.NUMBER),
        "moved_in": ProfileQuestionFactory(code="moved_in", answer_type=Kind.DATE),
        "has_car": ProfileQuestionFactory(code="has_car", answer_type=Kind.BOOLEAN),
        "district": district,
        "pets": pets,
    }


@pytest.mark.parametrize(
    ("code", "raw", "stored"),
    [
        ("hobby", " fishing ", "fishing"),
        ("height", "181.5", Decimal("181.5")),
        ("height", 180, Decimal("180")),
        ("height", Decimal("0.0001"), Decimal("0.0001")),
        ("height", "1,75", Decimal("1.75")),
        ("height", "-3", Decimal("-3")),
        ("moved_in", "2020-05-01", date(2020, 5, 1)),
        ("moved_in", date(2021, 1, 2), date(2021, 1, 2)),
        ("has_car", True, True),
        ("has_car", False, False),
        ("has_car", "no", False),
        ("has_car", "Да", True),
        ("district", "centre", "centre"),
        ("pets", ["dog", "cat", "dog"], ["dog", "cat"]),
        ("pets", ("fish",), ["fish"]),
    ],
)
def test_valid_answers_are_stored_by_type(questions, code, raw, stored):
    # given
    customer = CustomerFactory()
    # when
    profile_answer_set(customer=customer, question=questions[code], value=raw)
    # then
    value = profile_answers_get(customer)[code]
    assert value == stored
    assert type(value) is type(stored)


@pytest.mark.parametrize(
    ("code", "raw", "error_code"),
    [
        ("hobby", 42, "invalid_text"),
        ("hobby", ["chess"], "invalid_text"),
        ("hobby", "x" * 2001, "too_long"),
        ("height", 1.5, "invalid_number"),
        ("height", True, "invalid_number"),
        ("height", "tall", "invalid_number"),
        ("height", "NaN", "invalid_number"),
        ("height", "Infinity", "invalid_number"),
        ("height", "1e20", "invalid_number"),
        ("height", ["1"], "invalid_number"),
        ("height", "1.23456", "too_precise"),
        ("moved_in", "01.05.2020", "invalid_date"),
        ("moved_in", "2023-02-30", "invalid_date"),
        ("moved_in", 20200501, "invalid_date"),
        ("moved_in", datetime(2020, 5, 1, 12, 0, tzinfo=UTC), "invalid_date"),
        ("has_car", "maybe", "invalid_boolean"),
        ("has_car", 2, "invalid_boolean"),
        ("district", "suburbs", "invalid_choice"),
        ("district", ["centre"], "invalid_choice"),
        ("pets", "dog", "invalid_choice"),
        ("pets", ["dog", "parrot"], "invalid_choice"),
        ("pets", ["dog", 1], "invalid_choice"),
        ("pets", [{"dog": True}], "invalid_choice"),
    ],
)
def test_invalid_answers_are_refused_with_a_code(questions, code, raw, error_code):
    # given
    customer = CustomerFactory()
    # when
    with pytest.raises(ValidationError) as error:
        profile_answer_set(customer=customer, question=questions[code], value=raw)
    # then
    assert error.value.code == error_code
    assert error.value.messages[0]
    assert not ProfileAnswer.objects.exists()


def test_a_wrong_choice_names_the_options_a_marketer_can_pick(questions):
    customer = CustomerFactory()
    with pytest.raises(ValidationError) as error:
        profile_answer_set(customer=customer, question=questions["district"], value="suburbs")
    assert "centre" in error.value.messages[0]
    assert "left_bank" in error.value.messages[0]


def test_a_new_answer_replaces_the_old_one(questions):
    # given
    customer = CustomerFactory()
    profile_answer_set(customer=customer, question=questions["pets"], value=["dog"])
    # when
    profile_answer_set(customer=customer, question=questions["pets"], value=["cat", "fish"])
    # then
    assert profile_answers_get(customer) == {"pets": ["cat", "fish"]}
    assert ProfileAnswer.objects.count() == 1


@pytest.mark.parametrize("empty", [None, "", "   ", []])
def test_an_empty_value_clears_an_answer(questions, empty):
    # given
    customer = CustomerFactory()
    profile_answer_set(customer=customer, question=questions["hobby"], value="chess")
    profile_answer_set(customer=customer, question=questions["pets"], value=["dog"])
    # when
    profile_answer_set(customer=customer, question=questions["hobby"], value=empty)
    profile_answer_set(customer=customer, question=questions["pets"], value=empty)
    # then
    assert profile_answers_get(customer) == {}
    assert not ProfileAnswer.objects.exists()


@pytest.mark.parametrize("empty", [None, "", []])
def test_a_required_question_cannot_be_cleared(empty):
    # given
    customer = CustomerFactory()
    required = ProfileQuestionFactory(code="size", label="Your size", is_required=True)
    profile_answer_set(customer=customer, question=required, value="M")
    # when
    with pytest.raises(ValidationError) as error:
        profile_answer_set(customer=customer, question=required, value=empty)
    # then
    assert error.value.code == "required"
    assert "Your size" in error.value.messages[0]
    assert profile_answers_get(customer) == {"size": "M"}


def test_answers_set_is_all_or_nothing(questions):
    # given
    customer = CustomerFactory()
    profile_answers_set(customer=customer, answers={"hobby": "chess"})
    # when one answer of three is wrong and one code is unknown
    with pytest.raises(ValidationError) as error:
        profile_answers_set(
            customer=customer,
            answers={"hobby": "go", "pets": ["dog"], "height": "tall", "nonexistent": 1},
        )
    # then nothing is written, and the error names each failing code
    assert set(error.value.message_dict) == {"height", "nonexistent"}
    assert "nonexistent" in error.value.message_dict["nonexistent"][0]
    assert profile_answers_get(customer) == {"hobby": "chess"}
    # when everything is right, everything is written
    profile_answers_set(
        customer=customer, answers={"hobby": None, "height": "170", "pets": ["fish"]}
    )
    assert profile_answers_get(customer) == {"height": Decimal("170"), "pets": ["fish"]}


def test_inactive_questions_are_neither_answered_nor_shown(questions):
    # given
    customer = CustomerFactory()
    profile_answers_set(customer=customer, answers={"hobby": "chess", "has_car": True})
    # when
    ProfileQuestion.objects.filter(code="hobby").update(is_active=False)
    # then
    assert profile_answers_get(customer) == {"has_car": True}
    with pytest.raises(ValidationError) as error:
        profile_answers_set(customer=customer, answers={"hobby": "go"})
    assert error.value.error_dict["hobby"][0].code == "unknown_question"
