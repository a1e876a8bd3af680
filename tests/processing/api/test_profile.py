"""The questionnaire through the registration API (issue 14): a question defined in the admin
is accepted, checked and documented by the API without code, and bad answers change nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from drf_spectacular.generators import SchemaGenerator

from crm.models import Customer, ProfileAnswer, ProfileQuestion
from tests.factories.crm import ProfileQuestionChoiceFactory, ProfileQuestionFactory
from tests.processing.api.conftest import API, assert_problem
from tests.processing.api.test_schema import _validate

pytestmark = pytest.mark.django_db

URL = API + "customers"
Kind = ProfileQuestion.AnswerType


@pytest.fixture
def questionnaire():
    ProfileQuestionFactory(code="nickname", answer_type=Kind.TEXT)
    ProfileQuestionFactory(code="children", answer_type=Kind.NUMBER)
    ProfileQuestionFactory(code="wedding", answer_type=Kind.DATE)
    ProfileQuestionFactory(code="smoker", answer_type=Kind.BOOLEAN)
    ProfileQuestionChoiceFactory(question__code="pet", value="cat")
    ProfileQuestionChoiceFactory(question=ProfileQuestion.objects.get(code="pet"), value="dog")
    sports = ProfileQuestionChoiceFactory(
        question__code="sports", question__answer_type=Kind.MULTI_CHOICE, value="ski"
    ).question
    ProfileQuestionChoiceFactory(question=sports, value="swim")
    ProfileQuestionFactory(code="retired", is_active=False)


def test_a_registration_stores_the_answers_and_tells_them_back(world, client, questionnaire):
    body = {
        "phone": "+79001230001",
        "first_name": "Anna",
        "profile": {
            "nickname": "  Anya ",
            "children": "2",
            "wedding": "2015-06-20",
            "smoker": False,
            "pet": "dog",
            "sports": ["swim", "ski", "swim"],
        },
    }

    response = client.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["customer"]["profile"] == {
        "nickname": "Anya",
        "children": "2",
        "wedding": "2015-06-20",
        "smoker": False,
        "pet": "dog",
        "sports": ["swim", "ski"],
    }
    customer = Customer.objects.get(phone="+79001230001")
    numbers = ProfileAnswer.objects.get(customer=customer, question__code="children")
    assert numbers.value_number == Decimal("2")
    # and the answer agrees with the schema as it is now, the questions included
    _validate(
        SchemaGenerator().get_schema(request=None, public=True),
        "/api/v1/customers",
        "post",
        response,
    )


def test_a_new_question_reaches_the_schema_without_code(world, questionnaire):
    ProfileQuestionChoiceFactory(
        question__code="favourite_store", question__label="Your store?", value="centre"
    )

    schema = SchemaGenerator().get_schema(request=None, public=True)

    request = schema["components"]["schemas"]["CustomerRegister"]
    profile = request["properties"]["profile"]
    assert profile["additionalProperties"] is False
    assert profile["properties"]["favourite_store"] == {
        "title": "Your store?",
        "type": "string",
        "enum": ["centre"],
    }
    assert profile["properties"]["sports"]["type"] == "array"
    assert profile["properties"]["wedding"]["format"] == "date"
    assert "retired" not in profile["properties"]  # inactive


@pytest.mark.parametrize(
    ("profile", "path", "message"),
    [
        ({"shoe_size": "42"}, "profile.shoe_size", "There is no active question"),
        ({"retired": "yes"}, "profile.retired", "There is no active question"),
        ({"children": "two"}, "profile.children", ""),
        ({"wedding": "20.06.2015"}, "profile.wedding", ""),
        ({"pet": "fish"}, "profile.pet", "Choose one of"),
        ({"sports": "ski"}, "profile.sports", "Give a list of options"),
        ({"smoker": "maybe"}, "profile.smoker", "Answer yes or no."),
    ],
)
def test_a_bad_answer_is_named_and_nothing_is_written(
    world, client, questionnaire, row_counts, profile, path, message
):
    before = row_counts()
    customers = Customer.objects.count()

    response = client.post(
        URL, {"phone": "+79001230002", "first_name": "B", "profile": profile}, format="json"
    )

    data = assert_problem(response, 400, "invalid_request")
    assert path in data["errors"], data["errors"]
    assert message in data["errors"][path][0]
    assert row_counts() == before
    assert Customer.objects.count() == customers


def test_profile_must_be_an_object(world, client, questionnaire):
    response = client.post(
        URL, {"phone": "+79001230003", "first_name": "C", "profile": ["x"]}, format="json"
    )

    data = assert_problem(response, 400, "invalid_request")
    assert "profile" in data["errors"]
