"""Partner staff in the promotions admin: a user working for partner A lists, opens, changes,
deletes, acts on, exports, imports, searches and simulates partner A's promotions only, never
partner B's nor the coalition-wide ones; coalition staff still see everything."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Partner, StaffProfile, Store, Terminal
from promotions.exchange import promotions_export
from promotions.models import CompatibilityGroup, ProductSet, Promotion, PromotionVersion
from tests.factories.loyalty import (
    PartnerFactory,
    ProgrammeFactory,
    ReceiptFactory,
    StoreFactory,
    TerminalFactory,
)
from tests.factories.processing import Coalition, coalition
from tests.factories.promotions import group, product_set, promotion
from tests.promotions.admin_forms import admin_form_data

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:promotions_promotion_changelist"


@dataclass
class Scene:
    world: Coalition
    partner_b: Partner
    store_b: Store
    terminal_b: Terminal
    ours: Promotion  # partner A's
    theirs: Promotion  # partner B's
    shared: Promotion  # coalition-wide (no partner)


@pytest.fixture
def scene() -> Scene:
    world = coalition(percent="5")  # world.partner is partner A
    partner_b = PartnerFactory(name="Bravo Market")
    store_b = StoreFactory(partner=partner_b, name="Bravo store")
    terminal_b = TerminalFactory(store=store_b)
    shared = world.promotion
    Promotion.objects.filter(pk=shared.pk).update(name="Spring for everyone", code="shared")
    shared.refresh_from_db()
    points = [{"kind": "points_fixed", "value": 10}]
    ours = promotion(world, "Spring at A", code="ours", partner=world.partner, rewards=points)
    theirs = promotion(world, "Spring at B", code="theirs", partner=partner_b, rewards=points)
    return Scene(world, partner_b, store_b, terminal_b, ours, theirs, shared)


def _staff(username: str, partner: Partner | None):
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="promotions"))
    if partner is not None:
        StaffProfile.objects.create(user=user, partner=partner)
    return user


@pytest.fixture
def anna(scene, client):
    """A client logged in as Anna, promotions staff of partner A."""
    client.force_login(_staff("anna", scene.world.partner))
    return client


def _url(name: str, promotion: Promotion) -> str:
    return reverse(f"admin:promotions_promotion_{name}", args=[promotion.pk])


def _upload(document: dict) -> io.BytesIO:
    upload = io.BytesIO(json.dumps(document).encode())
    upload.name = "promotions.json"
    return upload


def test_the_list_shows_only_their_partners_promotions(scene, anna):
    # when
    response = anna.get(reverse(CHANGELIST))
    # then
    assert list(response.context["cl"].result_list) == [scene.ours]
    content = response.content.decode()
    assert "Spring at A" in content
    assert "Spring at B" not in content
    assert "Spring for everyone" not in content
    # their partner is the only one: no partner filter to choose from
    assert "partner" not in [spec.field_path for spec in response.context["cl"].filter_specs]
    assert scene.partner_b.name not in content


def test_search_and_filters_find_only_their_promotions(scene, anna):
    found = anna.get(reverse(CHANGELIST), {"q": "Spring"}).context["cl"].result_list
    assert list(found) == [scene.ours]
    assert not anna.get(reverse(CHANGELIST), {"q": "Spring at B"}).context["cl"].result_list
    by_partner = anna.get(reverse(CHANGELIST), {"partner__id__exact": scene.partner_b.pk})
    assert scene.theirs not in by_partner.context["cl"].result_list


def test_coalition_staff_see_every_promotion(scene, client):
    client.force_login(_staff("carl", None))
    changelist = client.get(reverse(CHANGELIST)).context["cl"]
    assert set(changelist.result_list) == {scene.ours, scene.theirs, scene.shared}
    partners = next(spec for spec in changelist.filter_specs if spec.field_path == "partner")
    assert {pk for pk, _name in partners.lookup_choices} == {
        scene.world.partner.pk,
        scene.partner_b.pk,
    }
    assert partners.include_empty_choice is True  # coalition-wide
    assert client.get(_url("change", scene.theirs)).status_code == 200


@pytest.mark.parametrize("other", ["theirs", "shared"])
def test_another_partners_or_a_coalition_promotion_cannot_be_opened_changed_or_deleted(
    scene, anna, other
):
    # given
    target = getattr(scene, other)
    name, versions = target.name, target.versions.count()
    # when / then
    assert anna.get(_url("change", target)).status_code == 404
    assert anna.post(_url("change", target), {"name": "Taken over"}).status_code == 404
    assert anna.get(_url("delete", target)).status_code == 404
    assert anna.post(_url("delete", target), {"post": "yes"}).status_code == 404
    assert anna.get(_url("history", target)).status_code == 404
    assert anna.get(_url("versions", target)).status_code == 404
    target.refresh_from_db()
    assert target.name == name
    assert target.versions.count() == versions


def test_their_own_promotion_opens_changes_and_deletes(scene, anna):
    # given
    page = anna.get(_url("change", scene.ours))
    assert page.status_code == 200
    data = admin_form_data(page)
    data["name"] = "Spring at A, renamed"
    # when
    changed = anna.post(_url("change", scene.ours), data)
    # then
    assert changed.status_code == 302
    scene.ours.refresh_from_db()
    assert scene.ours.name == "Spring at A, renamed"
    assert scene.ours.versions.get().user.username == "anna"
    assert anna.get(_url("versions", scene.ours)).status_code == 200
    assert anna.get(_url("delete", scene.ours)).status_code == 200
    assert anna.post(_url("delete", scene.ours), {"post": "yes"}).status_code == 302
    assert not Promotion.objects.filter(pk=scene.ours.pk).exists()


def test_the_partner_is_theirs_and_cannot_be_changed_or_emptied(scene, anna):
    # given: the partner is shown, not offered
    page = anna.get(_url("change", scene.ours))
    assert "partner" not in page.context["adminform"].form.fields
    data = admin_form_data(page)
    # when: another partner, then none, is posted anyway
    for posted in (scene.partner_b.pk, ""):
        data["partner"] = posted
        assert anna.post(_url("change", scene.ours), data).status_code == 302
        # then
        scene.ours.refresh_from_db()
        assert scene.ours.partner_id == scene.world.partner.pk


def test_a_promotion_they_add_is_their_partners(scene, anna):
    # given
    add = reverse("admin:promotions_promotion_add")
    page = anna.get(add, {"programme": scene.world.programme.pk})
    data = admin_form_data(page)
    data.update(name="New at A", code="new-a", partner=scene.partner_b.pk)
    # when
    response = anna.post(add, data)
    # then
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Promotion.objects.get(code="new-a").partner_id == scene.world.partner.pk


def test_the_choices_offered_are_their_stores_programmes_and_promotions(scene, anna):
    # given
    ProgrammeFactory(code="bravo-own", name="Bravo's own", partner=scene.partner_b)
    page = anna.get(_url("change", scene.ours))
    form = page.context["adminform"].form
    # then
    assert list(form.fields["stores"].queryset) == [scene.world.store]
    assert list(form.fields["programme"].queryset) == [scene.world.programme]
    rewards = next(
        inline.formset
        for inline in page.context["inline_admin_formsets"]
        if inline.formset.prefix == "rewards"
    )
    assert list(rewards.form.base_fields["multiplier_of"].queryset) == [scene.ours]


def test_product_sets_and_groups_offered_are_of_the_promotions_programme(scene, anna):
    # given
    other = ProgrammeFactory(code="other", name="Other programme")
    elsewhere = ProductSet.objects.create(programme=other, name="Elsewhere")
    CompatibilityGroup.objects.create(programme=other, name="Elsewhere", mode="first")
    here = product_set(scene.world, "Here")
    group_here = group(scene.world, "Here", "first")
    # when
    page = anna.get(_url("change", scene.ours))
    # then
    assert list(page.context["adminform"].form.fields["group"].queryset) == [group_here]
    for inline in page.context["inline_admin_formsets"]:
        if inline.formset.prefix in ("conditions", "rewards"):
            assert list(inline.formset.form.base_fields["product_set"].queryset) == [here]
    # when: a new promotion, the set of another programme posted anyway
    add = reverse("admin:promotions_promotion_add")
    data = admin_form_data(anna.get(add, {"programme": scene.world.programme.pk}))
    data.update({"name": "Mixed", "code": "mixed", "conditions-TOTAL_FORMS": "1",
                 "conditions-0-or_group": "1", "conditions-0-kind": "contains",
                 "conditions-0-operator": "gte", "conditions-0-product_set": elsewhere.pk})  # fmt: skip
    response = anna.post(add, data)
    # then
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Promotion.objects.filter(code="mixed").exists()


def test_a_multiplier_of_another_partners_promotion_is_refused(scene, anna):
    # given
    data = admin_form_data(anna.get(_url("change", scene.ours)))
    data.update(
        {
            "rewards-TOTAL_FORMS": "2",
            "rewards-1-kind": "points_multiplier",
            "rewards-1-value": "2",
            "rewards-1-multiplier_of": scene.theirs.pk,
            "rewards-1-currency": scene.world.currency.pk,
            "rewards-1-activation_delay_days": "0",
            "rewards-1-promotion": scene.ours.pk,
        }
    )
    # when
    response = anna.post(_url("change", scene.ours), data)
    # then
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert scene.ours.rewards.count() == 1


def test_autocomplete_offers_only_their_promotions(scene, anna):
    response = anna.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "promotions",
            "model_name": "reward",
            "field_name": "multiplier_of",
            "term": "Spring",
        },
    )
    assert [row["id"] for row in response.json()["results"]] == [str(scene.ours.pk)]


def test_bulk_actions_act_only_on_their_promotions(scene, anna):
    # given: every promotion selected, as a forged request would
    everything = [scene.ours.pk, scene.theirs.pk, scene.shared.pk]

    def act(action: str):
        return anna.post(reverse(CHANGELIST), {"action": action, "_selected_action": everything})

    # when / then
    act("pause")
    statuses = dict(Promotion.objects.values_list("code", "status"))
    assert statuses == {"ours": "paused", "theirs": "active", "shared": "active"}
    exported = json.loads(act("export").content)
    assert [row["code"] for row in exported["promotions"]] == ["ours"]
    act("copy")
    assert list(
        Promotion.objects.filter(code__contains="-copy-").values_list("code", flat=True)
    ) == ["ours-copy-1"]
    act("finish")
    act("activate")
    assert Promotion.objects.get(code="theirs").versions.count() == 0
    anna.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": everything, "post": "yes"},
    )
    assert set(Promotion.objects.values_list("code", flat=True)) == {
        "theirs",
        "shared",
        "ours-copy-1",
    }


def test_importing_another_partners_or_a_coalition_promotion_is_refused(scene, anna):
    # given: documents exported by coalition staff
    url = reverse("admin:promotions_promotion_import")
    before = list(Promotion.objects.order_by("pk").values())
    versions = PromotionVersion.objects.count()
    theirs = promotions_export([scene.theirs])
    theirs["promotions"][0]["name"] = "Spring at B, changed by A"
    shared = promotions_export([scene.shared])
    new_shared = promotions_export([scene.shared])
    new_shared["promotions"][0]["code"] = "new-shared"
    # ours, claiming the code of theirs: it would take over partner B's promotion
    takeover = promotions_export([scene.ours])
    takeover["promotions"][0]["code"] = "theirs"
    cases = [
        (theirs, "promotions[0].partner", "this one is for"),
        (shared, "promotions[0].partner", "runs at every partner"),
        (new_shared, "promotions[0].partner", "runs at every partner"),
        (takeover, "promotions[0].code", "cannot be replaced"),
    ]
    for document, where, message in cases:
        # when
        response = anna.post(url, {"document": _upload(document)})
        # then
        assert response.status_code == 200
        assert where in [path for path, _m in response.context["errors"]]
        assert message in response.content.decode()
    assert list(Promotion.objects.order_by("pk").values()) == before
    assert PromotionVersion.objects.count() == versions


def test_importing_their_own_promotions_works(scene, anna):
    # given
    document = promotions_export([scene.ours])
    document["promotions"][0]["name"] = "Spring at A, imported"
    document["promotions"].append({**document["promotions"][0], "code": "ours-2"})
    # when
    response = anna.post(
        reverse("admin:promotions_promotion_import"), {"document": _upload(document)}
    )
    # then
    assert response.status_code == 302
    assert set(
        Promotion.objects.filter(partner=scene.world.partner).values_list("name", "code")
    ) == {("Spring at A, imported", "ours"), ("Spring at A, imported", "ours-2")}


def test_an_import_may_name_shared_groups_and_sets_but_not_change_them(scene, anna):
    # given: partner A's promotion in a shared group, rewarding a shared product set
    accrual = group(scene.world, "Accrual", "first")
    lemonade = product_set(scene.world, "Lemonade")
    Promotion.objects.filter(pk=scene.ours.pk).update(group=accrual)
    scene.ours.rewards.update(product_set=lemonade)
    url = reverse("admin:promotions_promotion_import")
    document = promotions_export(Promotion.objects.filter(pk=scene.ours.pk))
    # when / then: unchanged, they are only named
    assert anna.post(url, {"document": _upload(document)}).status_code == 302
    # when / then: changed, they are refused and nothing changes
    document["groups"][0]["mode"] = "all"
    document["product_sets"][0]["partner"] = scene.world.partner.code  # taking it over
    document["product_sets"].append({**document["product_sets"][0], "name": "Anyone's",
                                     "partner": None})  # fmt: skip
    response = anna.post(url, {"document": _upload(document)})
    paths = [path for path, _message in response.context["errors"]]
    assert paths == ["groups[0]", "product_sets[0]", "product_sets[1].partner"]
    accrual.refresh_from_db()
    assert accrual.mode == "first"
    assert not ProductSet.objects.filter(name="Anyone's").exists()


def test_the_simulator_offers_their_terminals_and_drafts_only(scene, anna):
    # given
    draft_a = promotion(scene.world, "Draft A", partner=scene.world.partner, status="draft",
                        rewards=[{"kind": "points_fixed", "value": 1}])  # fmt: skip
    promotion(scene.world, "Draft B", partner=scene.partner_b, status="draft",
              rewards=[{"kind": "points_fixed", "value": 1}])  # fmt: skip
    url = reverse("admin:promotions_promotion_simulator")
    # when
    form = anna.get(url).context["form"]
    # then
    assert list(form.fields["terminal"].queryset) == [scene.world.terminal]
    assert list(form.fields["drafts"].queryset) == [draft_a]
    refused = anna.post(url, {"terminal": scene.terminal_b.pk, "lines": "A 1 100.00"})
    assert "terminal" in refused.context["form"].errors
    assert refused.context["simulation"] is None
    past_b = ReceiptFactory(terminal=scene.terminal_b)
    assert anna.get(url, {"receipt": past_b.pk}).context["form"].initial == {}
    past_a = ReceiptFactory(terminal=scene.world.terminal)
    assert anna.get(url, {"receipt": past_a.pk}).context["form"].initial["terminal"] == (
        scene.world.terminal
    )


def test_the_simulator_does_not_name_another_partners_promotions(scene, anna, client):
    # given
    url = reverse("admin:promotions_promotion_simulator")
    data = {
        "terminal": scene.world.terminal.pk,
        "card": scene.world.card.number,
        "lines": "A 1 100.00",
        "allow_unknown": "on",  # "A" is not in the catalogue
    }
    # when
    answer = anna.post(url, data).content.decode()
    # then
    assert "Spring at A" in answer
    assert "Spring at B" not in answer
    client.force_login(_staff("carl", None))
    assert "Spring at B" in client.post(url, data).content.decode()  # blocked: another partner


def test_an_administrator_sets_a_staff_users_partner(scene, admin_client):
    # given
    user = get_user_model().objects.create_user("boris", is_staff=True)
    url = reverse("admin:auth_user_change", args=[user.pk])
    data = admin_form_data(admin_client.get(url))
    data["staff_profile-0-partner"] = scene.partner_b.pk
    # when
    response = admin_client.post(url, data)
    # then
    assert response.status_code == 302
    assert StaffProfile.objects.get(user=user).partner == scene.partner_b


def test_coupon_redemptions_belong_to_the_series_partner_wherever_they_were_used(scene, anna):
    """The one rule (loyalty.isolation: ``coupon__series__partner``): a partner sees the uses of
    its own coupons, at any register of the coalition, and never the uses of another partner's
    coupons, even at its own registers (the receipt is in its receipts)."""
    from promotions.models import Coupon, CouponRedemption, CouponSeries

    world = scene.world

    def used(series_partner, at_terminal, code):
        series = CouponSeries.objects.create(
            programme=world.programme, partner=series_partner, code=code, name=code
        )
        coupon = Coupon.objects.create(series=series, code=code, valid_from=timezone.now())
        receipt = ReceiptFactory(terminal=at_terminal)
        return CouponRedemption.objects.create(coupon=coupon, receipt=receipt)

    ours_at_theirs = used(world.partner, scene.terminal_b, "OURS-AT-B")
    theirs_at_ours = used(scene.partner_b, world.terminal, "B-AT-OURS")

    listed = anna.get(reverse("admin:promotions_couponredemption_changelist"))
    assert listed.status_code == 200
    shown = {r.pk for r in listed.context["cl"].result_list}
    assert shown == {ours_at_theirs.pk}
    opened = anna.get(reverse("admin:promotions_couponredemption_change", args=[theirs_at_ours.pk]))
    assert opened.status_code in (302, 404)
