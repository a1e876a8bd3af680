"""Changes to audited models are recorded whichever way they are made: save, delete, the
queryset's bulk paths, the admin; bookkeeping columns and the purchase path record nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from audit.models import AuditEvent
from audit.trail import MASK, audit_context
from crm.models import Customer
from loyalty.models import Partner, Terminal, TerminalAPIKey
from loyalty.services.terminals import terminal_key_issue
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, PartnerFactory, TerminalFactory
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db


def events_of(obj, action=None):
    events = AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    )
    if action is not None:
        events = events.filter(action=action)
    return list(events.order_by("id"))


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("olga", password="x", is_staff=True)


def test_save_and_delete_record_who_what_before_and_after(staff):
    # given
    with audit_context(user=staff, address="10.0.0.7", source=AuditEvent.Source.STAFF):
        partner = Partner.objects.create(name="Pharmacy", code="PH", point_price=Decimal("1"))
        # when
        partner.name = "Pharmacy 24"
        partner.save()
        partner.save()  # nothing changed: no event
        pk = partner.pk
        partner.delete()
    # then
    events = list(AuditEvent.objects.filter(object_id=str(pk), content_type__model="partner"))
    created, updated, deleted = sorted(events, key=lambda e: e.id)
    assert created.action == "create"
    assert created.after["name"] == "Pharmacy"
    assert updated.action == "update"
    assert (updated.before, updated.after) == ({"name": "Pharmacy"}, {"name": "Pharmacy 24"})
    assert deleted.action == "delete"
    assert deleted.before["name"] == "Pharmacy 24"
    assert {(e.username, e.address, e.source) for e in events} == {("olga", "10.0.0.7", "staff")}


def test_outside_a_request_changes_are_recorded_as_a_command():
    partner = PartnerFactory()
    (event,) = events_of(partner)
    assert (event.source, event.user, event.address) == ("command", None, None)


def test_a_decimal_or_datetime_written_differently_is_not_a_change():
    partner = PartnerFactory(point_price=Decimal("1.5"))
    partner.refresh_from_db()
    partner.point_price = Decimal("1.50000")
    partner.save()
    assert len(events_of(partner)) == 1  # the creation only


def test_queryset_update_records_each_row_with_before_and_after():
    # given
    world = coalition()
    other = Promotion.objects.create(programme=world.programme, name="Second", status="active")
    # when
    count = Promotion.objects.filter(programme=world.programme).update(status="paused")
    # then
    assert count == 2
    for promotion in (world.promotion, other):
        (event,) = events_of(promotion, "update")
        assert (event.before, event.after) == ({"status": "active"}, {"status": "paused"})


def test_bulk_update_bulk_create_and_queryset_delete_record_each_row():
    # given
    first, second = PartnerFactory(), PartnerFactory()
    first.name, second.name = "One", "Two"
    # when
    Partner.objects.bulk_update([first, second], ["name"])
    made = Partner.objects.bulk_create(
        [Partner(name="Three", code="P3", tax_id="3"), Partner(name="Four", code="P4", tax_id="4")]
    )
    Partner.objects.filter(pk__in=[first.pk, second.pk]).delete()
    # then
    assert events_of(first, "update")[0].after == {"name": "One"}
    assert events_of(second, "update")[0].after == {"name": "Two"}
    assert [events_of(p, "create")[0].after["name"] for p in made] == ["Three", "Four"]
    assert events_of(first, "delete")[0].before["name"] == "One"
    assert events_of(second, "delete")[0].before["name"] == "Two"


def test_related_manager_update_is_audited():
    customer = CustomerFactory()
    card = ActiveCardFactory(customer=customer)
    customer.cards.update(block_reason="checked")
    (event,) = events_of(card, "update")
    assert event.after == {"block_reason": "checked"}


def test_bookkeeping_columns_make_no_event():
    terminal = TerminalFactory()
    Terminal.objects.filter(pk=terminal.pk).update(last_seen_at=timezone.now())
    terminal.last_seen_at = timezone.now()
    terminal.save(update_fields=["last_seen_at"])
    terminal.name = "Till 2"
    terminal.last_seen_at = timezone.now()
    terminal.save()
    (created, updated) = events_of(terminal)
    assert updated.after == {"name": "Till 2"}  # the stamp is neither an event nor stored
    assert "last_seen_at" not in created.after


def test_secrets_never_reach_the_trail():
    terminal = TerminalFactory()
    key, _raw = terminal_key_issue(terminal=terminal, name="till")
    # the key's primary key embeds its hash: the trail names it by its prefix
    (event,) = AuditEvent.objects.filter(content_type__model="terminalapikey")
    assert (event.action, event.object_id) == ("create", key.prefix)
    assert "hashed_key" not in event.after
    assert "id" not in event.after
    assert key.hashed_key not in str(event.after) + event.object_repr
    TerminalAPIKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    TerminalAPIKey.objects.filter(pk=key.pk).update(revoked=True)
    revoked = AuditEvent.objects.filter(content_type__model="terminalapikey").order_by("id").last()
    assert (revoked.object_id, revoked.after) == (key.prefix, {"revoked": True})


def test_customer_personal_values_are_masked_and_never_name_the_person():
    # given
    customer = Customer.objects.create(first_name="Anna", phone="+79001234567")
    # when
    customer.email = "anna@example.com"
    customer.save()
    # then
    created, updated = events_of(customer)
    assert created.after["first_name"] == MASK
    assert created.after["phone"] == MASK
    assert created.after["email"] is None
    assert (updated.before, updated.after) == ({"email": None}, {"email": MASK})
    for event in (created, updated):
        assert "Anna" not in event.object_repr
        assert customer.public_id in event.object_repr
        assert "+7900" not in str(event.before) + str(event.after)


def test_many_to_many_changes_are_recorded(staff):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="auditors")
    staff.groups.add(group)
    event = events_of(staff, "update")[-1]
    assert (event.before, event.after) == ({"groups": []}, {"groups": [group.pk]})


def test_purchases_write_no_audit_events(assert_ledger_consistent):
    # given: a registered customer's active card, already used once
    world = coalition()

    def buy(receipt_id):
        return confirm_answer(
            world.terminal,
            PurchaseRequest(
                receipt_id=receipt_id,
                card=world.card.number,
                lines=(
                    PurchaseLine(line_no=1, sku="A", quantity=Decimal("1"), price=Decimal("100")),
                ),
            ),
        )

    buy("R1")
    before = AuditEvent.objects.count()
    # when
    buy("R2")
    buy("R3")
    # then
    assert AuditEvent.objects.count() == before
    assert_ledger_consistent()


def test_admin_bulk_pause_records_each_promotion(admin_client):
    # given
    world = coalition()
    other = Promotion.objects.create(programme=world.programme, name="Second", status="active")
    # when
    response = admin_client.post(
        "/admin/promotions/promotion/",
        {"action": "pause", "_selected_action": [world.promotion.pk, other.pk]},
        REMOTE_ADDR="192.0.2.10",
    )
    # then
    assert response.status_code == 302
    for promotion in (world.promotion, other):
        (event,) = events_of(promotion, "update")
        assert event.after == {"status": "paused"}
        assert (event.source, event.address, event.username) == ("admin", "192.0.2.10", "admin")


def test_admin_change_form_is_recorded(admin_client):
    partner = PartnerFactory(name="Clinic")
    url = f"/admin/loyalty/partner/{partner.pk}/change/"
    response = admin_client.get(url)
    assert b"audit-trail-link" in response.content
    form = response.context["adminform"].form
    data = {
        name: (value if value is not None else "")
        for name, value in form.initial.items()
        if name in form.fields
    }
    data.update({"name": "Clinic North"})
    data.update(
        {
            key: value
            for formset in response.context["inline_admin_formsets"]
            for key, value in formset.formset.management_form.initial.items()
            for key in [f"{formset.formset.prefix}-{key}"]
        }
    )
    admin_client.post(url, data)
    event = events_of(partner, "update")[-1]
    assert event.after.get("name") == "Clinic North"
    assert event.source == "admin"


def test_emitted_cards_are_recorded_one_event_per_card_on_every_database(staff):
    # given
    from loyalty.services.card_emission import card_batch_emit
    from tests.factories.loyalty import CardBatchFactory

    batch = CardBatchFactory()
    # when: PostgreSQL loads them with COPY, SQLite with bulk_create
    with audit_context(user=staff, address="10.0.0.9", source=AuditEvent.Source.ADMIN):
        card_batch_emit(batch=batch, count=25)
    # then
    events = AuditEvent.objects.filter(content_type__model="card", action="create")
    cards = {str(pk): number for pk, number in batch.cards.values_list("pk", "number")}
    assert len(cards) == 25
    assert {e.object_id for e in events} == set(cards)
    for event in events:
        assert event.after["number"] == cards[event.object_id]
        assert event.object_repr == cards[event.object_id]
        assert event.after["batch_id"] == batch.pk
        assert (event.username, event.address, event.source) == ("olga", "10.0.0.9", "admin")


def test_a_compare_and_set_update_keeps_its_count():
    # given: a card bound meanwhile by someone else
    customer, other = CustomerFactory(), CustomerFactory()
    card = ActiveCardFactory(customer=customer)
    # when: an update conditional on the card being unbound
    from loyalty.models import Card

    bound = Card.objects.filter(pk=card.pk, customer__isnull=True).update(customer=other)
    # then: nothing matched, nothing changed, nothing recorded
    assert bound == 0
    card.refresh_from_db()
    assert card.customer_id == customer.pk
    assert events_of(card, "update") == []


def test_a_cards_activation_at_its_first_purchase_is_recorded_once_on_every_database():
    # given: an issued card (PostgreSQL writes the purchase in hand-written SQL, SQLite
    # through the ORM)
    from loyalty.models import Card
    from tests.factories.loyalty import CardFactory

    world = coalition()
    card = CardFactory(
        status=Card.Status.ISSUED,
        customer=world.customer,
        programme=world.programme,
        issued_at=timezone.now(),
    )

    def buy(receipt_id):
        line = PurchaseLine(line_no=1, sku="A", quantity=Decimal("1"), price=Decimal("100"))
        return confirm_answer(
            world.terminal,
            PurchaseRequest(receipt_id=receipt_id, card=card.number, lines=(line,)),
        )

    # when
    buy("R1")
    buy("R2")
    # then
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE
    (event,) = events_of(card, "update")
    assert event.before == {"activated_at": None, "status": "issued"}
    assert event.after["status"] == "active"
    assert event.after["activated_at"].startswith(
        str(card.activated_at.astimezone(datetime.UTC).date())
    )
    assert (event.source, event.object_repr) == ("command", card.number)


def test_many_to_many_changes_from_the_other_side_are_recorded(staff):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="operators")
    group.user_set.add(staff)
    group.user_set.clear()
    added, cleared = events_of(staff, "update")[-2:]
    assert (added.before, added.after) == ({"groups": []}, {"groups": [group.pk]})
    assert (cleared.before, cleared.after) == ({"groups": [group.pk]}, {"groups": []})


def test_rows_re_pointed_by_a_deletion_are_recorded():
    # given: a customer invited by another (referrer: on_delete SET_NULL)
    referrer = CustomerFactory()
    invited = CustomerFactory(referrer=referrer)
    referrer_pk = referrer.pk
    # when
    referrer.delete()
    # then: the invited customer's change is in the trail, not only the deletion
    invited.refresh_from_db()
    assert invited.referrer_id is None
    event = events_of(invited, "update")[-1]
    assert (event.before, event.after) == ({"referrer_id": referrer_pk}, {"referrer_id": None})
    assert AuditEvent.objects.filter(
        action="delete", object_id=str(referrer_pk), content_type__model="customer"
    ).exists()
