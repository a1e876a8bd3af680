"""The rule builder's views in the segment admin (``crm.segment_builder``): the kinds'
description, the preview of an unsaved rule and the row pickers. Each needs the segment
permissions; partner staff reach only their own and the coalition's programmes and rows,
and never see customers; a rule that is incomplete or wrong is answered with its named error
at the node it names."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from crm.models import Segment
from loyalty.models import StaffProfile
from tests.factories.crm import CustomerFactory, SegmentFactory
from tests.factories.loyalty import (
    PartnerFactory,
    ProgrammeFactory,
    ReceiptFactory,
    StoreFactory,
    TerminalFactory,
    TierFactory,
)

pytestmark = pytest.mark.django_db
KINDS = reverse("admin:crm_segment_builder_kinds")
PREVIEW = reverse("admin:crm_segment_builder_preview")
PICK = reverse("admin:crm_segment_builder_pick")


def staff(client, *codenames: str, partner=None):
    user = get_user_model().objects.create_user(
        f"staff{get_user_model().objects.count()}", password="pw", is_staff=True
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    if partner is not None:
        StaffProfile.objects.create(user=user, partner=partner)
    client.force_login(user)
    return client


def bought_at(partner, days: int, *, negated: bool = False) -> dict:
    return {
        "kind": "purchases",
        "not": negated,
        "measure": "count",
        "min": "1",
        "window": {"last_days": days},
        "partners": [partner.pk],
    }


@pytest.fixture
def shop():
    """Pharmacy: Anna bought there 60 days ago only, Boris 60 and 10 days ago, Clara 60 days
    ago too but she is a man of 40 (the OR group below leaves her out), Dmitry at another
    partner only."""
    now = timezone.now()
    programme = ProgrammeFactory()
    pharmacy = PartnerFactory(name="Pharmacy")
    till = TerminalFactory(store=StoreFactory(partner=pharmacy, name="Lenina 1"))
    other = TerminalFactory(store=StoreFactory(partner=PartnerFactory(name="Megamart")))
    anna = CustomerFactory(
        first_name="Anna", last_name="Petrova", gender="female", phone="+79001112233",
        email="anna@mail.example", registered_at=now - timedelta(days=300),
    )  # fmt: skip
    boris = CustomerFactory(gender="female", registered_at=now - timedelta(days=200))
    clara = CustomerFactory(gender="male", registered_at=now - timedelta(days=100))
    dmitry = CustomerFactory(gender="female")
    for customer in (anna, boris, clara):
        ReceiptFactory(terminal=till, customer=customer, sold_at=now - timedelta(days=60))
    ReceiptFactory(terminal=till, customer=boris, sold_at=now - timedelta(days=10))
    ReceiptFactory(terminal=other, customer=dmitry, sold_at=now - timedelta(days=5))
    return programme, pharmacy, {"anna": anna, "boris": boris, "clara": clara, "dmitry": dmitry}


def post_preview(client, rule, programme, object_id="") -> tuple[int, dict]:
    body = rule if isinstance(rule, str) else json.dumps(rule)
    response = client.post(
        PREVIEW, {"rule": body, "programme": str(programme), "object_id": str(object_id)}
    )
    return response.status_code, response.json()


# --- the kinds ---------------------------------------------------------------------------


def test_the_kinds_are_described_with_the_builder_s_words_in_the_request_s_language(client):
    staff(client, "view_segment")

    english = client.get(KINDS).json()
    russian = client.get(KINDS, headers={"accept-language": "ru"}).json()

    codes = [kind["code"] for kind in english["kinds"]]
    assert {"purchases", "tier", "segment", "answer", "coupon_used"} <= set(codes)
    assert english["words"]["and"] == "all of these (AND)"
    purchases = {kind["code"]: kind for kind in russian["kinds"]}["purchases"]
    assert purchases["label"] == "покупки"
    assert [kind["code"] for kind in russian["kinds"]] == codes


def test_the_kinds_need_a_segment_permission(client):
    assert client.get(KINDS).status_code == 302  # to the login page
    staff(client, "view_customer")
    assert client.get(KINDS).status_code == 403
    staff(client, "add_segment")
    assert client.get(KINDS).status_code == 200


# --- the preview -------------------------------------------------------------------------


def test_the_preview_counts_describes_and_lists_the_first_customers_masked(admin_client, shop):
    programme, pharmacy, people = shop
    rule = {"op": "and", "items": [bought_at(pharmacy, 90), bought_at(pharmacy, 30, negated=True)]}

    status, answer = post_preview(admin_client, rule, programme.pk)

    assert status == 200
    assert answer["size"] == 2
    assert answer["size_text"] == "2 customers"
    assert [c["public_id"] for c in answer["customers"]] == [
        str(people["clara"].public_id),  # newest registration first
        str(people["anna"].public_id),
    ]
    anna = answer["customers"][1]
    assert anna["name"] == people["anna"].full_name
    assert anna["phone"] == "+7900***-**-33"
    assert anna["email"] == "a***@mail.example"
    assert anna["url"] == reverse("admin:crm_customer_change", args=[people["anna"].pk])
    assert answer["rule"]["items"][1]["not"] is True
    assert answer["summary"].startswith("purchases (number of purchases, from: 1, in the last 90")
    assert " AND NOT purchases (" in answer["summary"]
    assert answer["customers_note"] == ""
    assert not Segment.objects.exists()


def test_the_preview_of_a_large_segment_says_only_the_first_are_listed(admin_client):
    programme = ProgrammeFactory()
    CustomerFactory.create_batch(21, gender="male")

    status, answer = post_preview(
        admin_client,
        {"op": "and", "items": [{"kind": "gender", "genders": ["male"]}]},
        programme.pk,
    )

    assert status == 200
    assert answer["size"] == 21
    assert len(answer["customers"]) == 20
    assert answer["customers_note"] == "The first 20, newest registrations first."


@pytest.mark.parametrize(
    ("rule", "code", "path", "param"),
    [
        (  # a condition whose required parameter is missing, in a nested group
            {"op": "and", "items": [
                {"kind": "gender", "genders": ["female"]},
                {"op": "or", "items": [{"kind": "age", "min": 1}, {"kind": "purchases"}]},
            ]},
            "rule_params_invalid", "items.1.items.1", "measure",
        ),
        (  # a window of words
            {"op": "and", "items": [{"kind": "registered", "window": {"last_days": "x"}}]},
            "rule_params_invalid", "items.0", "window",
        ),
        (  # no kind chosen
            {"op": "and", "items": [{"kind": "gender", "genders": ["male"]}, {"kind": ""}]},
            "rule_kind_unknown", "items.1", "",
        ),
        (  # an empty group
            {"op": "or", "items": [{"op": "and", "items": []}]},
            "rule_group_empty", "items.0", "",
        ),
        (  # not a group at all
            [1, 2], "rule_shape_invalid", "", "",
        ),
    ],
)  # fmt: skip
def test_an_incomplete_or_wrong_rule_is_answered_with_its_named_error(
    admin_client, rule, code, path, param
):
    programme = ProgrammeFactory()

    status, answer = post_preview(admin_client, rule, programme.pk)

    assert status == 422
    assert answer["error"]["code"] == code
    assert answer["error"]["path"] == path
    assert answer["error"]["param"] == param
    assert answer["error"]["message"]
    assert isinstance(answer["summary"], str)


def test_a_tier_of_another_programme_is_refused_at_its_node(admin_client):
    mine, theirs = ProgrammeFactory(code="mine"), ProgrammeFactory(code="theirs")
    gold = TierFactory(programme=theirs)

    status, answer = post_preview(
        admin_client, {"op": "and", "items": [{"kind": "tier", "tiers": [gold.pk]}]}, mine.pk
    )

    assert status == 422
    assert (answer["error"]["path"], answer["error"]["param"]) == ("items.0", "tiers")
    assert "in this programme" in answer["error"]["message"]


def test_a_segment_reading_itself_is_refused_for_the_segment_being_edited(admin_client):
    segment = SegmentFactory(
        kind=Segment.Kind.RULES,
        rule={"op": "and", "items": [{"kind": "gender", "genders": ["male"]}]},
    )
    rule = {"op": "and", "items": [{"kind": "segment", "segment": segment.pk}]}

    status, answer = post_preview(admin_client, rule, segment.programme_id, segment.pk)
    assert status == 422
    assert answer["error"]["code"] == "rule_segment_cycle"

    status, _answer = post_preview(admin_client, rule, segment.programme_id)  # another segment
    assert status == 200


def test_bad_json_a_get_and_an_unknown_programme_are_refused(admin_client):
    programme = ProgrammeFactory()

    status, answer = post_preview(admin_client, "{not json", programme.pk)
    assert status == 400
    assert answer["error"]["code"] == "rule_json_invalid"

    assert admin_client.get(PREVIEW).status_code == 405

    rule = {"op": "and", "items": [{"kind": "gender", "genders": ["male"]}]}
    for unknown in (programme.pk + 1000, "", "abc"):
        status, answer = post_preview(admin_client, rule, unknown)
        assert status == 404
        assert answer["error"]["code"] == "programme_unknown"


def test_the_preview_needs_a_segment_permission(client, shop):
    programme, _pharmacy, _people = shop
    rule = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}

    assert client.post(PREVIEW, {"rule": json.dumps(rule)}).status_code == 302
    staff(client, "view_customer", "view_programme")
    assert post_preview(client, rule, programme.pk)[0] == 403

    # view permission on segments is enough to preview; without customers' view, no customers
    staff(client, "view_segment")
    status, answer = post_preview(client, rule, programme.pk)
    assert status == 200
    assert answer["size"] == 3
    assert answer["customers"] is None
    assert answer["customers_note"] == "Only the size: you may not see the customers."


def test_partner_staff_preview_their_own_programmes_only_and_never_see_customers(client, shop):
    programme, pharmacy, _people = shop  # the coalition's programme (no partner)
    own = ProgrammeFactory(code="own", partner=pharmacy)
    foreign = ProgrammeFactory(code="foreign", partner=PartnerFactory())
    theirs = SegmentFactory(programme=foreign)
    staff(client, *[p.codename for p in Permission.objects.all()], partner=pharmacy)
    rule = {"op": "and", "items": [{"kind": "gender", "genders": ["female"]}]}

    for visible in (programme, own):
        status, answer = post_preview(client, rule, visible.pk)
        assert status == 200, answer
        assert answer["size"] == 3
        assert answer["customers"] is None  # the customer base is the coalition's

    status, answer = post_preview(client, rule, foreign.pk)
    assert status == 404
    assert answer["error"]["code"] == "programme_unknown"
    # another partner's segment is not theirs to preview, whatever the programme said
    assert post_preview(client, rule, own.pk, theirs.pk)[0] == 403
    assert post_preview(client, rule, own.pk, "nope")[0] == 403


# --- the pickers -------------------------------------------------------------------------


def pick(client, **params) -> tuple[int, dict]:
    response = client.get(PICK, {k: str(v) for k, v in params.items()})
    return response.status_code, response.json()


def test_partners_are_searched_through_their_admin(admin_client, shop):
    programme, pharmacy, _people = shop

    status, answer = pick(
        admin_client, kind="purchases", param="partners", programme=programme.pk, term="pharm"
    )

    assert status == 200
    assert answer["results"] == [{"id": pharmacy.pk, "text": "Pharmacy"}]
    assert answer["pagination"] == {"more": False}


def test_rows_of_a_programme_scoped_parameter_are_the_programme_s(admin_client):
    mine, theirs = ProgrammeFactory(code="mine"), ProgrammeFactory(code="theirs")
    gold = TierFactory(programme=mine, name="Gold")
    TierFactory(programme=theirs, name="Gold too")

    status, answer = pick(admin_client, kind="tier", param="tiers", programme=mine.pk)
    assert status == 200
    assert answer["results"] == [{"id": gold.pk, "text": "Gold"}]

    # the labels of the rows a saved rule names: only those the programme holds
    other = TierFactory(programme=theirs)
    status, answer = pick(
        admin_client, kind="tier", param="tiers", programme=mine.pk, ids=f"{gold.pk},{other.pk},x"
    )
    assert answer["results"] == [{"id": gold.pk, "text": "Gold"}]


def test_the_rows_come_twenty_a_page(admin_client):
    programme = ProgrammeFactory()
    PartnerFactory.create_batch(25)

    first = pick(admin_client, kind="purchases", param="partners", programme=programme.pk)[1]
    second = pick(admin_client, kind="purchases", param="partners", programme=programme.pk, page=2)[
        1
    ]

    assert len(first["results"]) == 20
    assert first["pagination"] == {"more": True}
    assert len(second["results"]) == 5
    assert second["pagination"] == {"more": False}
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}


def test_partner_staff_pick_only_their_own_rows(client, shop):
    programme, pharmacy, _people = shop
    staff(client, *[p.codename for p in Permission.objects.all()], partner=pharmacy)

    _status, partners = pick(client, kind="purchases", param="partners", programme=programme.pk)
    _status, stores = pick(client, kind="purchases", param="stores", programme=programme.pk)

    assert [row["text"] for row in partners["results"]] == ["Pharmacy"]
    assert [row["text"] for row in stores["results"]] == ["Pharmacy: Lenina 1"]


def test_a_picker_needs_a_known_row_parameter_a_visible_programme_and_a_permission(
    client, admin_client
):
    programme = ProgrammeFactory()
    for kind, param in (("purchases", "measure"), ("purchases", "nope"), ("nope", "partners")):
        status, answer = pick(admin_client, kind=kind, param=param, programme=programme.pk)
        assert status == 400
        assert answer["error"]["code"] == "param_unknown"
    status, answer = pick(admin_client, kind="tier", param="tiers", programme=programme.pk + 9)
    assert status == 404

    staff(client, "view_partner")
    assert client.get(PICK, {"kind": "tier", "param": "tiers"}).status_code == 403


# --- the page ----------------------------------------------------------------------------


def test_the_change_page_holds_the_builder_and_the_list_the_rule_in_words(admin_client, shop):
    programme, pharmacy, _people = shop
    rule = {"op": "and", "not": False, "items": [bought_at(pharmacy, 90)]}
    segment = SegmentFactory(programme=programme, kind=Segment.Kind.RULES, rule=rule)
    SegmentFactory(programme=programme, name="By hand")

    page = admin_client.get(reverse("admin:crm_segment_change", args=[segment.pk]))
    text = page.content.decode()
    assert 'id="rule-builder"' in text
    assert f'data-object-id="{segment.pk}"' in text
    assert f'data-programme-id="{programme.pk}"' in text
    assert "loyalty/segment-builder.js" in text
    assert "select2" in text
    assert 'id="rule-json"' in text

    listing = admin_client.get(reverse("admin:crm_segment_changelist")).content.decode()
    assert "purchases (number of purchases, from: 1, in the last 90 days, at the partners: " in (
        listing
    )
    assert "Pharmacy)" in listing
