"""Ready segmentations: each type makes its ordinary rule segments, refreshed, with the
customers its definition puts there (bands without gaps or overlaps); bad parameters, unknown
types and a prefix already used are refused with a named error and nothing is made; the
preview writes nothing; the admin page previews, creates and shows the errors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from crm.errors import SegmentationExists, SegmentationParamsInvalid, SegmentationUnknown
from crm.models import Segment, SegmentRefresh
from crm.segments.segmentations import segmentation_create, segmentation_preview
from loyalty.models import StaffProfile
from promotions.models import Promotion
from tests.crm.segments.test_behaviour import buy
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    CategoryFactory,
    PartnerFactory,
    ProductFactory,
    ProgrammeFactory,
    StoreFactory,
    TerminalFactory,
)

pytestmark = pytest.mark.django_db
D = Decimal
DAY = timedelta(days=1)
BCG = {"window": {"last_days": 30}, "share_from": "50", "growth_from": "0", "growth_of": "ours"}


@pytest.fixture
def shop():
    now = timezone.now().replace(microsecond=0)
    programme = ProgrammeFactory()
    ours, theirs = PartnerFactory(), PartnerFactory()
    here, there = (TerminalFactory(store=StoreFactory(partner=p)) for p in (ours, theirs))
    return now, programme, ours, here, there


def members(segments) -> dict[str, set[int]]:
    return {s.code: set(s.members.values_list("customer_id", flat=True)) for s in segments}


def test_bcg_puts_every_customer_with_spend_in_one_quadrant(shop):
    now, programme, ours, here, there = shop
    star, cow, question, dog, idle = CustomerFactory.create_batch(5)
    # star: 60 % of 250.00 here now, 100.00 here before: +50 %
    buy(star, here, now - 40 * DAY, ("100.00", "0", None))
    buy(star, here, now - DAY, ("150.00", "0", None))
    buy(star, there, now - DAY, ("100.00", "0", None))
    # cow: all of it here, but less than before
    buy(cow, here, now - 40 * DAY, ("200.00", "0", None))
    buy(cow, here, now - DAY, ("100.00", "0", None))
    # question mark: 10 % here, new here (nothing before): growth without limit
    buy(question, here, now - DAY, ("10.00", "0", None))
    buy(question, there, now - DAY, ("90.00", "0", None))
    # dog: never here (no growth to tell: low)
    buy(dog, there, now - DAY, ("90.00", "0", None))
    # idle: spent only before the period
    buy(idle, here, now - 40 * DAY, ("90.00", "0", None))

    made = segmentation_create(
        programme=programme, kind="bcg", params={**BCG, "partners": [ours.pk]}, now=now
    )

    assert members(made) == {
        "bcg-stars": {star.pk},
        "bcg-cash-cows": {cow.pk},
        "bcg-question-marks": {question.pk},
        "bcg-dogs": {dog.pk},
    }
    assert all(s.kind == Segment.Kind.RULES and s.size == 1 for s in made)
    assert made[0].name == "BCG matrix (bcg): stars"
    assert SegmentRefresh.objects.filter(segment__in=made).count() == 4
    # growth of all the spend: the star grew from 100.00 to 250.00, the dog from nothing
    everything = segmentation_create(
        programme=programme,
        kind="bcg",
        prefix="bcg-all",
        params={**BCG, "partners": [ours.pk], "growth_of": "all"},
        now=now,
    )
    assert members(everything)["bcg-all-stars"] == {star.pk}
    assert members(everything)["bcg-all-dogs"] == set()
    assert members(everything)["bcg-all-question-marks"] == {question.pk, dog.pk}


def test_making_a_segmentation_again_with_the_same_prefix_is_refused(shop):
    now, programme, ours, _here, _there = shop
    params = {**BCG, "partners": [ours.pk]}
    segmentation_create(programme=programme, kind="bcg", params=params, now=now)

    with pytest.raises(SegmentationExists) as caught:
        segmentation_create(programme=programme, kind="bcg", params=params, now=now)
    assert caught.value.param == "prefix"
    assert "bcg-cash-cows" in str(caught.value)
    with pytest.raises(SegmentationExists):
        segmentation_preview(programme_id=programme.pk, kind="bcg", params=params)
    assert Segment.objects.count() == 4
    # another programme, or another prefix, is free
    segmentation_create(programme=ProgrammeFactory(code="other"), kind="bcg", params=params)
    segmentation_create(programme=programme, kind="bcg", params=params, prefix="bcg2")
    assert Segment.objects.count() == 12


def test_buyers_and_non_buyers_of_a_category(shop):
    now, programme, _ours, here, _there = shop
    root = CategoryFactory()
    cheese = ProductFactory(category=CategoryFactory(parent=root))
    buyer, other, nobody = CustomerFactory.create_batch(3)
    buy(buyer, here, now - DAY, ("10.00", "0", cheese))
    buy(other, here, now - DAY, ("10.00", "0", None))
    buy(nobody, here, now - 100 * DAY, ("10.00", "0", cheese))
    params = {"categories": [root.pk], "window": {"last_days": 30}, "among": "all"}

    made = segmentation_create(programme=programme, kind="binary", params=params, now=now)
    assert members(made) == {
        "binary-buyers": {buyer.pk},
        "binary-non-buyers": {other.pk, nobody.pk},
    }

    active = segmentation_create(
        programme=programme,
        kind="binary",
        prefix="active",
        params={**params, "among": "buyers"},
        now=now,
    )
    assert members(active)["active-non-buyers"] == {other.pk}


def test_promotion_sensitivity_bands_meet_without_gap_or_overlap(shop):
    now, programme, _ours, here, _there = shop
    low, edge, high, none = CustomerFactory.create_batch(4)
    buy(low, here, now - DAY, ("19.99", "1", None), ("80.01", "0", None))  # 19.99 %
    buy(edge, here, now - DAY, ("20.00", "1", None), ("80.00", "0", None))  # exactly 20 %
    buy(high, here, now - DAY, ("60.00", "1", None), ("40.00", "0", None))  # exactly 60 %
    buy(none, here, now - DAY, ("0.00", "0", None))  # no money spent
    params = {
        "window": {"last_days": 30},
        "basis": "discount",
        "medium_from": "20",
        "high_from": "60",
    }

    made = segmentation_create(
        programme=programme, kind="promo-sensitivity", params=params, prefix="ps", now=now
    )

    assert members(made) == {"ps-low": {low.pk}, "ps-medium": {edge.pk}, "ps-high": {high.pk}}
    assert [s.name for s in made] == [
        "Promotion sensitivity (ps): low",
        "Promotion sensitivity (ps): medium",
        "Promotion sensitivity (ps): high",
    ]


def test_churn_risk_bands(shop):
    now, programme, _ours, here, _there = shop
    regular, late, gone, once = CustomerFactory.create_batch(4)
    for customer, since_last in ((regular, 10), (late, 20), (gone, 30)):
        for back in (since_last + 20, since_last + 10, since_last):  # every ten days
            buy(customer, here, now - back * DAY, ("10.00", "0", None))
    buy(once, here, now - DAY, ("10.00", "0", None))
    params = {"window": {"last_days": 365}, "medium_from": "1.5", "high_from": "3"}

    made = segmentation_create(programme=programme, kind="churn-risk", params=params, now=now)

    assert members(made) == {
        "churn-risk-low": {regular.pk},
        "churn-risk-medium": {late.pk},
        "churn-risk-high": {gone.pk},
    }


@pytest.mark.parametrize(
    ("kind", "params", "param"),
    [
        ("bcg", {**BCG}, "partners"),
        ("bcg", {**BCG, "partners": [10**9]}, "partners"),
        ("bcg", {**BCG, "share_from": "150"}, "share_from"),
        ("bcg", {**BCG, "window": {"from": "2026-01-01"}}, "window"),
        ("bcg", {**BCG, "growth_of": "theirs"}, "growth_of"),
        ("bcg", {**BCG, "colour": "red"}, "colour"),
        ("binary", {"window": {"last_days": 30}, "among": "all"}, "categories"),
        (
            "promo-sensitivity",
            {"window": {"last_days": 30}, "basis": "discount", "medium_from": "60", "high_from": "20"},
            "high_from",
        ),
        (
            "promo-sensitivity",
            {"window": {"last_days": 30}, "basis": "promotions", "medium_from": "1", "high_from": "2"},
            "promotions",
        ),
        ("churn-risk", {"medium_from": "3", "high_from": "3"}, "high_from"),
        ("churn-risk", {"medium_from": "1", "high_from": "3", "min_purchases": 1}, "min_purchases"),
        ("churn-risk", {"medium_from": 1.5, "high_from": "3"}, "medium_from"),
    ],
)  # fmt: skip
def test_bad_parameters_are_refused_by_name_and_nothing_is_made(shop, kind, params, param):
    _now, programme, *_rest = shop
    with pytest.raises(SegmentationParamsInvalid) as caught:
        segmentation_create(programme=programme, kind=kind, params=params)
    assert caught.value.param == param
    assert caught.value.code == "segmentation_params_invalid"
    assert not Segment.objects.exists()


def test_a_promotion_of_another_programme_an_unknown_type_and_a_bad_prefix_are_refused(shop):
    _now, programme, ours, *_rest = shop
    elsewhere = Promotion.objects.create(programme=ProgrammeFactory(code="other"), name="X")
    params = {
        "window": {"last_days": 30},
        "basis": "promotions",
        "promotions": [elsewhere.pk],
        "medium_from": "20",
        "high_from": "60",
    }
    with pytest.raises(SegmentationParamsInvalid) as caught:
        segmentation_create(programme=programme, kind="promo-sensitivity", params=params)
    assert caught.value.param == "promotions"
    with pytest.raises(SegmentationUnknown):
        segmentation_create(programme=programme, kind="horoscope", params={})
    good = {**BCG, "partners": [ours.pk]}
    for prefix in ("", "-bcg", "b c g", "x" * 50):
        with pytest.raises(SegmentationParamsInvalid) as caught:
            segmentation_create(programme=programme, kind="bcg", params=good, prefix=prefix)
        assert caught.value.param == "prefix"
    assert not Segment.objects.exists()


def test_the_preview_counts_each_segment_and_writes_nothing(shop):
    now, programme, ours, here, _there = shop
    CustomerFactory()
    buy(CustomerFactory(), here, now - DAY, ("10.00", "0", None))
    previews = segmentation_preview(
        programme_id=programme.pk, kind="bcg", params={**BCG, "partners": [ours.pk]}, now=now
    )
    assert [(planned.code, preview.size) for planned, preview in previews] == [
        ("bcg-stars", 1),
        ("bcg-cash-cows", 0),
        ("bcg-question-marks", 0),
        ("bcg-dogs", 0),
    ]
    assert not Segment.objects.exists()


# --- the admin page ------------------------------------------------------------------------


def page(client, **query):
    return client.get(reverse("admin:crm_segment_segmentation"), query)


def post(client, **data):
    return client.post(reverse("admin:crm_segment_segmentation"), data)


def bcg_form(programme, partner, **extra) -> dict:
    return {
        "kind": "bcg",
        "programme": programme.pk,
        "prefix": "bcg",
        "window__last_days": "30",
        "partners": [partner.pk],
        "share_from": "50",
        "growth_from": "0",
        "growth_of": "ours",
        **extra,
    }


def test_the_segments_list_links_to_the_page_which_lists_the_types(admin_client):
    listing = admin_client.get(reverse("admin:crm_segment_changelist"))
    assert reverse("admin:crm_segment_segmentation") in listing.content.decode()
    text = page(admin_client).content.decode()
    for label in ("BCG matrix", "Buyers and non-buyers", "Promotion sensitivity", "Churn risk"):
        assert label in text
    assert "segmentation-form" not in text
    form = page(admin_client, kind="promo-sensitivity").content.decode()
    assert 'name="medium_from"' in form
    assert 'value="20"' in form
    assert "There is no ready segmentation" in page(admin_client, kind="horoscope").content.decode()


def test_the_page_previews_then_creates_the_segments(admin_client, shop):
    now, programme, ours, here, _there = shop
    buy(CustomerFactory(), here, now - DAY, ("10.00", "0", None))

    preview = post(admin_client, **bcg_form(programme, ours), _preview="1")
    assert preview.status_code == 200
    sizes = [(p.code, s.size) for p, s in preview.context["previews"]]
    assert sizes[0] == ("bcg-stars", 1)
    assert 'id="segmentation-preview"' in preview.content.decode()
    assert not Segment.objects.exists()

    created = post(admin_client, **bcg_form(programme, ours), _create="1")
    assert created.status_code == 302
    assert "q=bcg" in created["Location"]
    assert set(Segment.objects.values_list("code", flat=True)) == {
        "bcg-stars",
        "bcg-cash-cows",
        "bcg-question-marks",
        "bcg-dogs",
    }
    listing = admin_client.get(created["Location"]).content.decode()
    assert "BCG matrix (bcg): stars" in listing

    again = post(admin_client, **bcg_form(programme, ours), _create="1")
    assert again.status_code == 200
    assert "already has segments with the codes" in again.content.decode()
    assert again.context["form"].errors["prefix"]
    assert Segment.objects.count() == 4


def test_the_page_shows_a_bad_parameter_on_its_field(admin_client, shop):
    _now, programme, ours, *_rest = shop
    response = post(admin_client, **bcg_form(programme, ours, partners=[]), _create="1")
    assert response.status_code == 200
    assert (
        "Name the partners, the categories or both." in response.context["form"].errors["partners"]
    )
    window = post(
        admin_client,
        **bcg_form(programme, ours, window__last_days="", window__from="2026-01-01"),
        _preview="1",
    )
    assert window.context["form"].errors["window__last_days"]
    assert not Segment.objects.exists()


def test_without_the_right_to_add_segments_the_page_is_refused(client, shop):
    _now, programme, ours, *_rest = shop
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_segment"))
    client.force_login(user)
    assert page(client).status_code == 403
    assert post(client, **bcg_form(programme, ours), _create="1").status_code == 403
    assert not Segment.objects.exists()


def test_partner_staff_cannot_make_segments_in_the_coalitions_programme(client, shop):
    _now, programme, ours, *_rest = shop
    assert programme.partner_id is None  # the coalition's
    user = get_user_model().objects.create_user("alpha", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    StaffProfile.objects.create(user=user, partner=ours)
    client.force_login(user)
    response = post(client, **bcg_form(programme, ours), _create="1")
    assert response.status_code in (200, 403)
    assert not Segment.objects.exists()
