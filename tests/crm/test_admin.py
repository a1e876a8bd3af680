"""The crm admin: the questionnaire appears without code changes; saving uses the services.

``admin_client`` is pytest-django's: Django's test Client logged in as a superuser.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from crm.models import (
    Consent,
    ContactVerification,
    Customer,
    DuplicateSuggestion,
    ProfileAnswer,
    ProfileQuestion,
)
from crm.services import profile_answer_set, profile_answers_get
from tests.factories.crm import (
    ConsentFactory,
    CustomerFactory,
    ProfileQuestionChoiceFactory,
    ProfileQuestionFactory,
)

pytestmark = pytest.mark.django_db
Kind = ProfileQuestion.AnswerType
INLINES = ("consents", "family", "cars", "memorable_dates")


def change_url(customer: Customer) -> str:
    return reverse("admin:crm_customer_change", args=[customer.pk])


def change_form_data(customer, **overrides):
    """The POST of the customer's change form as the browser sends it, inlines empty."""
    data = {
        "last_name": customer.last_name,
        "first_name": customer.first_name,
        "middle_name": customer.middle_name,
        "gender": customer.gender,
        "birth_date": "",
        "phone": customer.phone or "",
        "email": customer.email or "",
        "registered_at_0": customer.registered_at.strftime("%Y-%m-%d"),
        "registered_at_1": customer.registered_at.strftime("%H:%M:%S"),
        "source": customer.source,
        "source_detail": "",
        "referral_code": customer.referral_code or "",
        "referrer": "",
        "comment": "",
    }
    for prefix in INLINES:
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(overrides)
    return data


def errors_of(response) -> str:
    """The page's form errors, for an assertion message."""
    context = response.context
    if context is None or "adminform" not in context:
        return response.content.decode()[:2000]
    return str(context["adminform"].form.errors) + str(context.get("inline_admin_formsets"))


def test_a_new_question_appears_on_the_customer_page_and_its_answer_is_saved(admin_client):
    # given a customer, and a question added later in the admin
    customer = CustomerFactory()
    assert "q_shoe_size" not in admin_client.get(change_url(customer)).content.decode()
    question = ProfileQuestionFactory(code="shoe_size", label="Shoe size", answer_type="choice")
    ProfileQuestionChoiceFactory(question=question, value="s40", label="40")
    ProfileQuestionChoiceFactory(question=question, value="s41", label="41")
    # when the page is opened again
    page = admin_client.get(change_url(customer)).content.decode()
    # then the question is there, in the questionnaire
    assert 'name="q_shoe_size"' in page
    assert "Questionnaire" in page
    assert "Shoe size" in page
    # when an answer is posted
    response = admin_client.post(
        change_url(customer), change_form_data(customer, q_shoe_size="s41")
    )
    # then it is stored
    assert response.status_code == 302, errors_of(response)
    assert profile_answers_get(customer) == {"shoe_size": "s41"}


def test_every_answer_type_is_asked_with_its_own_field_and_stored(admin_client):
    # given one question of each type
    customer = CustomerFactory()
    ProfileQuestionFactory(code="hobby", answer_type=Kind.TEXT)
    ProfileQuestionFactory(code="height", answer_type=Kind.NUMBER)
    ProfileQuestionFactory(code="moved_in", answer_type=Kind.DATE)
    ProfileQuestionFactory(code="has_car", answer_type=Kind.BOOLEAN)
    pets = ProfileQuestionFactory(code="pets", answer_type=Kind.MULTI_CHOICE)
    for value in ("dog", "cat", "fish"):
        ProfileQuestionChoiceFactory(question=pets, value=value)
    # when the form is opened
    form = admin_client.get(change_url(customer)).context["adminform"].form
    # then each question has the field of its type
    assert {name: type(form.fields[name]).__name__ for name in form.fields if name[:2] == "q_"} == {
        "q_hobby": "CharField",
        "q_height": "DecimalField",
        "q_moved_in": "DateField",
        "q_has_car": "TypedChoiceField",
        "q_pets": "MultipleChoiceField",
    }
    assert [value for value, _label in form.fields["q_pets"].choices] == ["dog", "cat", "fish"]
    # when answers are posted
    data = change_form_data(
        customer,
        q_hobby="chess",
        q_height="181.5",
        q_moved_in="2020-05-01",
        q_has_car="false",
        q_pets=["dog", "fish"],
    )
    response = admin_client.post(change_url(customer), data)
    # then they are stored with their types, and shown again as initial values
    assert response.status_code == 302, errors_of(response)
    assert profile_answers_get(customer) == {
        "hobby": "chess",
        "height": Decimal("181.5"),
        "moved_in": date(2020, 5, 1),
        "has_car": False,
        "pets": ["dog", "fish"],
    }
    page = admin_client.get(change_url(customer)).content.decode()
    assert 'value="2020-05-01"' in page
    assert '<option value="false" selected>' in page


def test_a_required_question_left_blank_is_a_form_error(admin_client):
    # given
    customer = CustomerFactory(first_name="Anna")
    ProfileQuestionFactory(code="size", label="Clothes size", is_required=True)
    # when
    response = admin_client.post(
        change_url(customer), change_form_data(customer, first_name="Olga")
    )
    # then
    assert response.status_code == 200
    assert "q_size" in response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.first_name == "Anna"


def test_clearing_an_answer_in_the_form_removes_it(admin_client):
    # given
    customer = CustomerFactory()
    question = ProfileQuestionFactory(code="hobby")
    profile_answer_set(customer=customer, question=question, value="chess")
    assert 'name="q_hobby"' in admin_client.get(change_url(customer)).content.decode()
    # when
    response = admin_client.post(change_url(customer), change_form_data(customer, q_hobby=""))
    # then
    assert response.status_code == 302, errors_of(response)
    assert not ProfileAnswer.objects.exists()


def test_a_duplicate_phone_is_a_form_error_and_changes_nothing(admin_client):
    # given
    customer = CustomerFactory(phone="+79130000001", first_name="Anna")
    CustomerFactory(phone="+79130000002")
    # when the other customer's phone is typed in another notation
    data = change_form_data(customer, phone="8 913 000-00-02", first_name="Olga")
    response = admin_client.post(change_url(customer), data)
    # then
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["phone"] == ["This phone number already belongs to another customer."]
    customer.refresh_from_db()
    assert (customer.phone, customer.first_name) == ("+79130000001", "Anna")


def test_a_phone_is_saved_normalised(admin_client):
    # given
    customer = CustomerFactory()
    # when
    response = admin_client.post(
        change_url(customer), change_form_data(customer, phone="8 (913) 555-44-33")
    )
    # then
    assert response.status_code == 302, errors_of(response)
    customer.refresh_from_db()
    assert customer.phone == "+79135554433"


def test_a_customer_cannot_be_made_their_own_referrer(admin_client):
    # given
    customer = CustomerFactory()
    # when
    response = admin_client.post(
        change_url(customer), change_form_data(customer, referrer=str(customer.pk))
    )
    # then
    assert response.status_code == 200
    assert "referrer" in response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.referrer is None


def test_a_referral_code_is_changed_and_kept_unique(admin_client):
    # given
    customer = CustomerFactory()
    CustomerFactory(referral_code="TAKEN234")
    # when a code of someone else is typed, in lower case
    response = admin_client.post(
        change_url(customer), change_form_data(customer, referral_code="taken234")
    )
    # then
    assert response.status_code == 200
    assert "referral_code" in response.context["adminform"].form.errors
    # when a free code is typed
    response = admin_client.post(
        change_url(customer), change_form_data(customer, referral_code=" anna2026 ")
    )
    # then it is saved, normalised
    assert response.status_code == 302, errors_of(response)
    customer.refresh_from_db()
    assert customer.referral_code == "ANNA2026"


def test_adding_a_customer_goes_through_the_service(admin_client):
    # given
    friend = CustomerFactory()
    new = CustomerFactory.build(phone="", email="", referral_code="")
    question = ProfileQuestionFactory(code="hobby")
    data = change_form_data(
        new,
        phone="8 (913) 555-44-33",
        email="NEW@Mail.Example",
        last_name="Petrova",
        referrer=str(friend.pk),
        q_hobby="chess",
    )
    # when
    response = admin_client.post(reverse("admin:crm_customer_add"), data)
    # then
    assert response.status_code == 302, errors_of(response)
    created = Customer.objects.get(last_name="Petrova")
    assert created.phone == "+79135554433"
    assert created.email == "new@mail.example"
    assert created.referrer == friend
    assert created.referral_code  # left blank: the generated one is kept
    assert ProfileAnswer.objects.get(customer=created, question=question).value == "chess"


def test_adding_a_customer_with_a_taken_phone_is_a_form_error(admin_client):
    # given
    CustomerFactory(phone="+79130000001")
    new = CustomerFactory.build(phone="", email="", referral_code="", last_name="Petrova")
    # when
    response = admin_client.post(
        reverse("admin:crm_customer_add"), change_form_data(new, phone="89130000001")
    )
    # then
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not Customer.objects.filter(last_name="Petrova").exists()


def test_search_finds_a_customer_by_a_phone_in_any_notation(admin_client):
    # given
    customer = CustomerFactory(phone="+79131234567", last_name="Smirnova")
    CustomerFactory(phone="+79137654321", last_name="Petrova")
    url = reverse("admin:crm_customer_changelist")
    # when
    response = admin_client.get(url, {"q": "8 913 123-45-67"})
    # then
    page = response.content.decode()
    assert list(response.context["cl"].result_list) == [customer]
    assert "+7913***-**-67" in page
    assert "+79131234567" not in page  # the list shows the phone masked


def test_search_by_name_still_works(admin_client):
    customer = CustomerFactory(last_name="Smirnova")
    CustomerFactory(last_name="Petrova")
    response = admin_client.get(reverse("admin:crm_customer_changelist"), {"q": "smirn"})
    assert list(response.context["cl"].result_list) == [customer]


def test_a_consent_granted_in_the_inline_gets_its_time(admin_client):
    # given
    customer = CustomerFactory()
    data = change_form_data(customer)
    data.update(
        {
            "consents-TOTAL_FORMS": "1",
            "consents-0-channel": "sms",
            "consents-0-is_granted": "on",
            "consents-0-source": "call centre",
        }
    )
    # when
    response = admin_client.post(change_url(customer), data)
    # then
    assert response.status_code == 302, errors_of(response)
    consent = Consent.objects.get(customer=customer)
    assert (consent.channel, consent.is_granted, consent.source) == ("sms", True, "call centre")
    assert consent.granted_at is not None
    assert consent.revoked_at is None


def test_a_consent_withdrawn_in_the_inline_keeps_when_it_was_granted(admin_client):
    # given
    consent = ConsentFactory(channel="email")
    customer = consent.customer
    data = change_form_data(customer)
    data.update(
        {
            "consents-TOTAL_FORMS": "1",
            "consents-INITIAL_FORMS": "1",
            "consents-0-id": str(consent.pk),
            "consents-0-customer": str(customer.pk),
            "consents-0-channel": "sms",  # a disabled field: the posted value is ignored
            "consents-0-source": "",
            "consents-0-text_version": "",
        }
    )
    # when
    response = admin_client.post(change_url(customer), data)
    # then
    assert response.status_code == 302, errors_of(response)
    withdrawn = Consent.objects.get(customer=customer)
    assert (withdrawn.channel, withdrawn.is_granted) == ("email", False)
    assert withdrawn.granted_at == consent.granted_at
    assert withdrawn.revoked_at is not None


def test_the_consent_admin_goes_through_the_service(admin_client):
    # given
    customer = CustomerFactory()
    # when
    response = admin_client.post(
        reverse("admin:crm_consent_add"),
        {"customer": str(customer.pk), "channel": "viber", "is_granted": "on", "source": "web"},
    )
    # then
    assert response.status_code == 302, errors_of(response)
    consent = Consent.objects.get(customer=customer)
    assert consent.is_granted is True
    assert consent.granted_at is not None


def test_a_list_question_without_options_is_refused(admin_client):
    # given
    data = {
        "code": "colour",
        "label": "Favourite colour",
        "answer_type": "choice",
        "position": "0",
        "is_active": "on",
        "choices-TOTAL_FORMS": "1",
        "choices-INITIAL_FORMS": "0",
        "choices-0-value": "",
        "choices-0-label": "",
        "choices-0-position": "0",
    }
    # when
    response = admin_client.post(reverse("admin:crm_profilequestion_add"), data)
    # then
    assert response.status_code == 200
    assert "needs at least one option" in response.content.decode()
    assert not ProfileQuestion.objects.exists()
    # when an option is given
    data.update({"choices-0-value": "red", "choices-0-label": "Red"})
    response = admin_client.post(reverse("admin:crm_profilequestion_add"), data)
    # then
    assert response.status_code == 302, errors_of(response)
    assert list(ProfileQuestion.objects.get().choices.values_list("value", flat=True)) == ["red"]


def test_the_answer_type_of_an_answered_question_is_locked(admin_client):
    # given
    question = ProfileQuestionFactory(code="hobby", label="Hobby")
    profile_answer_set(customer=CustomerFactory(), question=question, value="chess")
    data = {
        "code": "hobby",
        "label": "Hobby",
        "answer_type": "number",
        "position": "0",
        "is_active": "on",
        "choices-TOTAL_FORMS": "0",
        "choices-INITIAL_FORMS": "0",
    }
    # when
    url = reverse("admin:crm_profilequestion_change", args=[question.pk])
    response = admin_client.post(url, data)
    # then
    assert response.status_code == 200
    assert "answer_type" in response.context["adminform"].form.errors
    question.refresh_from_db()
    assert question.answer_type == Kind.TEXT


def test_every_crm_admin_page_opens(admin_client):
    # given one row of each kind, so that change pages open too
    consent = ConsentFactory()
    question = ProfileQuestionFactory(answer_type=Kind.CHOICE)
    ProfileQuestionChoiceFactory(question=question, value="a")
    profile_answer_set(customer=consent.customer, question=question, value="a")
    # when / then
    for model in admin.site._registry:
        if model._meta.app_label != "crm":
            continue
        name = f"admin:crm_{model._meta.model_name}"
        assert admin_client.get(reverse(f"{name}_changelist")).status_code == 200, name
        # answers are added on the customer's page only, duplicates found by the nightly job,
        # verifications sent from the customer's "Verify contacts" page
        if model not in (ProfileAnswer, DuplicateSuggestion, ContactVerification):
            assert admin_client.get(reverse(f"{name}_add")).status_code == 200, name
        row = model.objects.first()
        if row is not None:
            assert admin_client.get(reverse(f"{name}_change", args=[row.pk])).status_code == 200


def test_the_customer_autocomplete_searches_by_phone(admin_client):
    # given
    customer = CustomerFactory(phone="+79131234567")
    # when
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "8 913 123 45 67",
            "app_label": "crm",
            "model_name": "consent",
            "field_name": "customer",
        },
    )
    # then
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(customer.pk)]
