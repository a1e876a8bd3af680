"""The customer 360 (issue 14): one page in the back office's frame with the profile and
questionnaire, family and dates, cards, balances with lots, receipts with their lines, the
promotions received, segments, messages and tickets; operators act on it, a marketer who may
see customers reads it without the forms."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import (
    Car,
    FamilyMember,
    MemorableDate,
    ProfileQuestion,
    Segment,
    SegmentMember,
    SegmentMembershipChange,
)
from crm.segments.refresh import segment_refresh
from crm.services.profile import profile_answers_set
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import TriggerFiring
from tests.factories.crm import ProfileQuestionChoiceFactory
from tests.factories.loyalty import ProductFactory
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db


def _user(django_user_model, name: str, *perms: tuple[str, str]):
    user = django_user_model.objects.create_user(name, email=f"{name}@x.example", is_staff=True)
    for app, codename in perms:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def world():
    world = coalition(percent="5")
    customer = world.customer
    ProfileQuestionChoiceFactory(question__code="pet", question__label="Your pet?", value="cat")
    profile_answers_set(customer=customer, answers={"pet": "cat"})
    FamilyMember.objects.create(
        customer=customer,
        relation=FamilyMember.Relation.CHILD,
        name="Misha",
        birth_date=date(2018, 5, 1),
    )
    Car.objects.create(customer=customer, make="Lada", model="Vesta", year=2020)
    MemorableDate.objects.create(customer=customer, title="Wedding", date=date(2015, 6, 20))
    segment = Segment.objects.create(programme=world.programme, code="vip", name="VIP guests")
    segment.customers.add(customer)
    ProductFactory(sku="A", name="Apples")
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="R360",
            card=world.card.number,
            lines=(PurchaseLine(1, "A", Decimal("2"), Decimal("1000.00")),),
        ),
    )
    return world


def _page(client, user, customer) -> str:
    client.force_login(user)
    response = client.get(reverse("console:customer", args=[customer.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}"')
    return page[start : page.index("</section>", start)]


def test_the_360_shows_everything_about_the_customer(client, django_user_model, world):
    operator = _user(
        django_user_model, "op", ("contactcenter", "use_console"), ("crm", "view_customer")
    )

    page = _page(client, operator, world.customer)

    questionnaire = _section(page, "questionnaire")
    assert "Your pet?" in questionnaire
    assert "cat" in questionnaire
    assert "Misha" in questionnaire
    assert "Lada Vesta" in questionnaire
    assert "Wedding" in questionnaire
    assert "VIP guests" in _section(page, "segments")
    received = _section(page, "received")
    assert world.promotion.name in received
    assert "100" in received  # 5 % of 2,000.00 in points
    receipts = _section(page, "receipts")
    assert "Apples" in receipts
    assert "2,000.00" in receipts
    assert 'id="adjust"' in page or "Open a ticket first" in page  # the operator's forms


def test_a_marketer_reads_the_360_without_the_forms(client, django_user_model, world):
    marketer = _user(django_user_model, "mk", ("crm", "view_customer"))

    page = _page(client, marketer, world.customer)

    assert "VIP guests" in page
    assert 'id="ticket-form"' not in page
    assert 'id="adjust"' not in page
    assert "/block/" not in page
    # and the console's actions stay closed to them
    response = client.post(
        reverse("console:ticket_open", args=[world.customer.pk]), {"subject": "x"}
    )
    assert response.status_code == 403


def test_occasions_count_with_the_receipts_of_the_same_promotion(client, django_user_model, world):
    TriggerFiring.objects.create(
        promotion=world.promotion,
        customer=world.customer,
        key="birthday:2026",
        occurred_at=timezone.now(),
        given=Decimal("300.00"),
    )
    marketer = _user(django_user_model, "mk", ("crm", "view_customer"))

    received = _section(_page(client, marketer, world.customer), "received")

    row = received.split(world.promotion.name)[1].split("</tr>")[0]
    cells = [cell.split("</td>")[0] for cell in row.split("<td>")[1:]]
    assert cells == ["1", "0.00", "100", "1"]  # 1 receipt, no discount, 100 points, 1 occasion


def test_without_either_permission_the_360_is_closed(client, django_user_model, world):
    client.force_login(_user(django_user_model, "nobody"))

    assert client.get(reverse("console:customer", args=[world.customer.pk])).status_code == 403


def test_the_360_reads_each_part_once_however_many_rows(client, django_user_model, world):
    operator = _user(
        django_user_model, "op", ("contactcenter", "use_console"), ("crm", "view_customer")
    )
    client.force_login(operator)
    url = reverse("console:customer", args=[world.customer.pk])
    client.get(url)  # warm the caches (rules, permissions)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200

    # more receipts with more lines, answers, family, dates and segments
    for number in range(4):
        confirm_answer(
            world.terminal,
            PurchaseRequest(
                receipt_id=f"MORE{number}",
                card=world.card.number,
                lines=tuple(
                    PurchaseLine(line, "A", Decimal("1"), Decimal("10.00")) for line in (1, 2, 3)
                ),
            ),
        )
        FamilyMember.objects.create(
            customer=world.customer, relation=FamilyMember.Relation.CHILD, name=f"C{number}"
        )
        MemorableDate.objects.create(
            customer=world.customer, title=f"D{number}", date=date(2015, 6, number + 1)
        )
        more = Segment.objects.create(
            programme=world.programme, code=f"s{number}", name=f"S{number}"
        )
        more.customers.add(world.customer)
        SegmentMembershipChange.objects.create(
            segment=more, customer=world.customer, change="entered"
        )
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200

    extra = [q["sql"][:200] for q in many.captured_queries[len(few) :]]
    assert len(many) == len(few) <= 33, extra


def test_answers_of_every_type_read_as_written(client, django_user_model, world):
    ProfileQuestion.objects.create(code="smoker", label="Smoker?", answer_type="boolean")
    profile_answers_set(customer=world.customer, answers={"smoker": False})
    marketer = _user(django_user_model, "mk", ("crm", "view_customer"))

    questionnaire = _section(_page(client, marketer, world.customer), "questionnaire")

    assert "Smoker?" in questionnaire
    assert "no" in questionnaire


def test_the_360_shows_when_the_customer_entered_each_segment_and_the_history(
    client, django_user_model, world
):
    # given a rule segment "holds a card" the customer entered at a refresh on 1 March, and a
    # rule segment "holds no card" they were in and left at the same refresh
    moment = timezone.make_aware(timezone.datetime(2026, 3, 1, 3, 30))
    holds_card = {"op": "and", "items": [{"kind": "card"}]}
    holders = Segment.objects.create(
        programme=world.programme,
        code="holders",
        name="Card holders",
        kind=Segment.Kind.RULES,
        rule=holds_card,
    )
    cardless = Segment.objects.create(
        programme=world.programme,
        code="cardless",
        name="Without a card",
        kind=Segment.Kind.RULES,
        rule={**holds_card, "not": True},
    )
    SegmentMember.objects.create(segment=cardless, customer=world.customer)
    assert segment_refresh(holders.pk, now=moment).entered == 1
    assert segment_refresh(cardless.pk, now=moment).left == 1
    marketer = _user(django_user_model, "mk", ("crm", "view_customer"))

    section = _section(_page(client, marketer, world.customer), "segments")

    # then the segments now, with when they entered...
    now_part = section.split('id="segments-history"')[0]
    assert "Card holders" in now_part
    assert "VIP guests" in now_part
    assert "Without a card" not in now_part
    holders_row = now_part.split("Card holders")[1].split("</tr>")[0]
    assert "03/01/2026" in holders_row
    # ...and what the refreshes recorded, the latest first
    history = section.split('id="segments-history"')[1]
    assert history.index("Without a card") < history.index("Card holders")  # same moment, pk
    assert 'class="segment-left"' in history
    assert 'class="segment-entered"' in history


def test_the_360_history_shows_the_last_changes_only(client, django_user_model, world):
    segment = Segment.objects.get(code="vip")
    start = timezone.now() - timezone.timedelta(days=100)
    for day in range(15):
        SegmentMembershipChange.objects.create(
            segment=segment,
            customer=world.customer,
            change="entered" if day % 2 == 0 else "left",
            at=start + timezone.timedelta(days=day),
        )
    marketer = _user(django_user_model, "mk", ("crm", "view_customer"))

    history = _section(_page(client, marketer, world.customer), "segments").split(
        'id="segments-history"'
    )[1]

    assert history.count("<tr class=") == 10
    assert "The last 10 changes" in history


def test_a_customer_in_no_segment_says_so(client, django_user_model, world):
    SegmentMember.objects.filter(customer=world.customer).delete()
    marketer = _user(django_user_model, "mk", ("crm", "view_customer"))

    section = _section(_page(client, marketer, world.customer), "segments")

    assert "In no segment." in section
    assert "No refresh has moved this customer" in section
