"""The promotion builder: the rule's one-line summary, the fields by trigger and kind, help on
every field, errors named at the top, one condition and one reward row to start with."""

from datetime import date, time
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from promotions.admin.layout import CONDITION_FIELDS, REWARD_FIELDS, TRIGGER_FIELDS, builder_layout
from promotions.models import Condition, Promotion, Reward
from promotions.summary import promotion_summary
from tests.factories.loyalty import CounterFactory, TierFactory
from tests.factories.processing import coalition
from tests.factories.promotions import product_set, promotion
from tests.promotions.admin_forms import admin_form_data

pytestmark = pytest.mark.django_db

ADD = reverse("admin:promotions_promotion_add")


@pytest.fixture
def marketer(client):
    user = get_user_model().objects.create_superuser("m", "m@example.com", "pw")
    client.force_login(user)
    return client


def test_every_fifth_purchase_reads_as_the_marketer_says_it():
    # given
    world = coalition()
    world.currency.name = "Bonus points"
    world.currency.save()
    counter = CounterFactory(programme=world.programme, name="Purchases", unit="purchases")
    made = promotion(
        world,
        "Fifth",
        conditions=[
            {"kind": "nth_purchase", "counter": counter, "quantity": 5},
            {"kind": "receipt_total", "operator": "gte", "amount": "500.00"},
        ],
        rewards=[
            {
                "kind": "points_fixed",
                "value": "100",
                "expires_on": date(timezone.localdate().year, 12, 31),
            }
        ],
    )

    # when
    with translation.override("en"):
        text = promotion_summary(made)

    # then
    assert text == (
        "Every 5th purchase of at least 500.00 at any store: +100 Bonus points, burning 31 Dec"
    )


@pytest.mark.parametrize(
    ("trigger", "fields", "rewards", "expected"),
    [
        (
            "date",
            {"trigger_date": "birthday", "trigger_offset_days": -3},
            [{"kind": "points_fixed", "value": "200", "expires_days_after_date": 7}],
            "3 days before the customer's birthday: +200 Points, burning 7 days after the date",
        ),
        (
            "registration",
            {},
            [{"kind": "points_fixed", "value": "50"}],
            "On registration: +50 Points",
        ),
        (
            "monthly",
            {"trigger_day": 10},
            [{"kind": "points_fixed", "value": "1E+2", "lifetime_days": 30}],
            "Every month on day 10: +100 Points, burning after 30 days",
        ),
    ],
)
def test_occasions_read_as_sentences(trigger, fields, rewards, expected):
    world = coalition()
    world.currency.name = "Points"
    world.currency.save()
    made = promotion(world, "Occasion", trigger=trigger, rewards=rewards, **fields)

    with translation.override("en"):
        assert promotion_summary(made) == expected


def test_discounts_on_a_set_with_days_hours_and_tiers():
    world = coalition()
    shoes = product_set(world, "Shoes")
    gold = TierFactory(programme=world.programme, name="Gold")
    made = promotion(
        world,
        "Shoes",
        conditions=[{"kind": "customer_tier", "tiers": [gold]}],
        rewards=[
            {"kind": "every_nth", "value": "100", "every_n": 3, "product_set": shoes},
            {"kind": "bundle_price", "value": "99", "every_n": 3, "max_units": 6},
        ],
        weekdays=[1, 2, 3, 4, 5],
        time_from=time(13),
        time_to=time(15),
        stores=[world.store],
    )

    with translation.override("en"):
        text = promotion_summary(made)

    assert text == (
        f"Every purchase for tier Gold at {world.store.name} on Mon–Fri, 13:00–15:00 store time: "
        "every 3rd unit free on “Shoes”; 3 for 99.00, at most 6 units"
    )


def test_the_summary_is_in_russian_with_the_locale_s_numbers():
    world = coalition()
    made = promotion(
        world,
        "Big",
        conditions=[{"kind": "receipt_total", "operator": "gte", "amount": "1500.50"}],
        rewards=[{"kind": "discount_percent", "value": "7.5"}],
    )

    with translation.override("ru"):
        text = promotion_summary(made)

    assert "1\xa0500,50" in text
    assert "7,5" in text
    assert "E+" not in text


def test_a_new_promotion_starts_with_one_condition_and_one_reward(marketer):
    page = marketer.get(ADD)

    assert page.status_code == 200
    assert page.context["inline_admin_formsets"][0].formset.total_form_count() == 1
    assert page.context["inline_admin_formsets"][1].formset.total_form_count() == 1
    assert b'id="promotion-summary"' in page.content
    assert b'id="builder-layout"' in page.content


def test_every_field_of_the_builder_explains_itself(marketer):
    page = marketer.get(ADD)

    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"][:2]:
        forms += inline.formset.forms
    missing = [
        f"{form.prefix or 'promotion'}.{name}"
        for form in forms
        for name, field in form.fields.items()
        if name not in ("id", "promotion", "DELETE") and not str(field.help_text).strip()
    ]
    assert missing == []


def test_the_layout_names_only_fields_the_forms_have(marketer):
    page = marketer.get(ADD)
    promotion_form = page.context["adminform"].form
    condition_form, reward_form = (
        inline.formset.forms[0] for inline in page.context["inline_admin_formsets"][:2]
    )

    assert set(TRIGGER_FIELDS) <= set(promotion_form.fields)
    assert set(CONDITION_FIELDS) <= set(condition_form.fields)
    assert set(REWARD_FIELDS) <= set(reward_form.fields)
    kinds = {
        str(value) for values in builder_layout()["rewards"]["fields"].values() for value in values
    }
    assert kinds <= set(Reward.Kind.values)
    for name, needs in builder_layout()["rewards"]["requires"].items():
        assert name in reward_form.fields
        for other, values in needs.items():
            assert set(values) <= {value for value, _label in reward_form.fields[other].choices}


def test_the_summary_follows_the_unsaved_form(marketer):
    # given: the add page as a browser holds it, filled in but not saved
    world = coalition()
    data = admin_form_data(marketer.get(ADD))
    data.update(
        {
            "programme": str(world.programme.pk),
            "name": "Ten off",
            "conditions-0-kind": "receipt_total",
            "conditions-0-operator": "gte",
            "conditions-0-amount": "100",
            "rewards-0-kind": "discount_percent",
            "rewards-0-value": "10",
        }
    )

    # when
    answer = marketer.post(reverse("admin:promotions_promotion_summary"), data)

    # then
    assert answer.status_code == 200
    assert answer.json()["summary"] == "Every purchase of at least 100.00 at any store: 10 % off"
    assert not Promotion.objects.filter(name="Ten off").exists()


def test_errors_are_named_at_the_top_with_their_row_and_field(marketer):
    # given: points without a currency in the first reward
    world = coalition()
    data = admin_form_data(marketer.get(ADD))
    data.update(
        {
            "programme": str(world.programme.pk),
            "name": "No currency",
            "code": "no-currency",
            "conditions-0-kind": "receipt_total",
            "conditions-0-operator": "gte",
            "conditions-0-amount": "100",
            "rewards-0-kind": "points_fixed",
            "rewards-0-value": "100",
            "rewards-0-currency": "",
        }
    )

    # when
    page = marketer.post(ADD, data)

    # then
    assert page.status_code == 200
    assert page.context["named_errors"] == [
        {
            "where": "Reward 1",
            "field": "Currency",
            "message": "Points need a currency.",
            "anchor": "id_rewards-0-currency",
        }
    ]
    html = page.content.decode()
    assert 'id="builder-errors"' in html
    assert html.index('id="builder-errors"') < html.index('id="id_name"')
    assert not Promotion.objects.filter(code="no-currency").exists()
    assert (
        not Condition.objects.exists()
        or Condition.objects.filter(promotion__code="no-currency").count() == 0
    )


def test_the_summary_view_refuses_a_get_and_strangers(client, marketer):
    assert marketer.get(reverse("admin:promotions_promotion_summary")).status_code == 405
    client.logout()
    answer = client.post(reverse("admin:promotions_promotion_summary"), {})
    assert answer.status_code == 302  # to the login page
    assert Decimal("0") == Decimal(0)
