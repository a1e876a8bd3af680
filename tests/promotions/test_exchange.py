"""The exchange format: export, import (all or nothing), the commands, the admin, versions."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from processing.sale import PurchaseLine, PurchaseRequest
from promotions.exchange import FORMAT, ImportFailed, promotions_export, promotions_import
from promotions.models import (
    CompatibilityGroup,
    Condition,
    ProductSet,
    Promotion,
    PromotionVersion,
    Reward,
)
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import ProductFactory
from tests.factories.processing import coalition
from tests.factories.promotions import group, product_set, promotion
from tests.processing.answers import calculate_answer

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    world = coalition(percent="2")
    Promotion.objects.filter(pk=world.promotion.pk).update(code="base")
    lemon = ProductFactory(sku="LEMON", partner=None)
    first = group(world, "Accrual", "first")
    promotion(
        world,
        "Lemonade 5%",
        code="lemon5",
        priority=20,
        group=first,
        conditions=[{"kind": "receipt_total", "operator": "gte", "amount": "100.00"}],
        rewards=[
            {
                "kind": "points_percent",
                "value": 5,
                "product_set": product_set(world, "Lemonade", products=[lemon]),
                "lifetime_days": 30,
            }
        ],
    )
    promotion(
        world,
        "x2 base",
        code="double",
        rewards=[{"kind": "points_multiplier", "value": 2, "multiplier_of": world.promotion}],
    )
    return world


def _numbers(world, receipt_id="R1") -> dict:
    answer = calculate_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id=receipt_id,
            card=world.card.number,
            lines=(
                PurchaseLine(1, "LEMON", D("2"), D("60.00")),
                PurchaseLine(2, "BREAD", D("1"), D("40.00")),
            ),
        ),
    )
    return {k: answer[k] for k in ("points_earned", "lines", "promotions")}


def _document(world) -> dict:
    return json.loads(json.dumps(promotions_export(Promotion.objects.order_by("pk"))))


def _wipe():
    Reward.objects.all().delete()
    Condition.objects.all().delete()
    Promotion.objects.all().delete()
    ProductSet.objects.all().delete()
    CompatibilityGroup.objects.all().delete()
    snapshot_invalidate()


def test_an_exported_document_rebuilds_the_same_promotions_elsewhere(world):
    before = _numbers(world)
    document = _document(world)
    assert document["format"] == FORMAT
    assert document["version"] == 1
    assert [g["name"] for g in document["groups"]] == ["Accrual"]
    assert document["product_sets"][0]["products"] == [{"sku": "LEMON", "partner": None}]
    _wipe()
    assert _numbers(world, "R0")["points_earned"] == "0.00"
    imported = promotions_import(document)
    snapshot_invalidate()
    assert len(imported) == 3
    after = _numbers(world, "R2")
    # 2 % of 160.00 doubled (3.20 + 3.20) and 5 % of the 120.00 of lemonade (6.00)
    assert after["points_earned"] == before["points_earned"] == "12.40"
    assert after["lines"] == before["lines"]
    again = _document(world)
    for key in ("groups", "product_sets"):
        assert again[key] == document[key]
    assert [p["code"] for p in again["promotions"]] == ["base", "lemon5", "double"]
    assert again["promotions"][1] == document["promotions"][1]


def test_importing_the_same_document_twice_updates_and_keeps_versions(world):
    document = _document(world)
    promotions_import(document)
    document["promotions"][1]["priority"] = 99
    promotions_import(document)
    assert Promotion.objects.count() == 3
    lemon = Promotion.objects.get(code="lemon5")
    assert lemon.priority == 99
    assert lemon.conditions.count() == 1
    assert lemon.rewards.count() == 1
    versions = list(lemon.versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].data["priority"] == 20
    assert versions[1].data["priority"] == 99
    assert versions[1].source == "import"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["promotions"][1]["rewards"][0].update(currency="nope"), "rewards[0].currency"),
        (
            lambda d: d["promotions"][1]["rewards"][0].update(product_set="missing"),
            "rewards[0].product_set",
        ),
        (lambda d: d["promotions"][1]["rewards"][0].update(value=5.5), "rewards[0].value"),
        (lambda d: d["promotions"][1].update(status="live"), "promotions[1].status"),
        (lambda d: d["promotions"][1].update(programme="other"), "promotions[1].programme"),
        (lambda d: d["promotions"][1].update(group="Nobody"), "promotions[1].group"),
        (lambda d: d["promotions"][1].update(weekdays=[0, 8]), "promotions[1].weekdays"),
        (
            lambda d: d["promotions"][1].update(ends_at="2000-01-01T00:00:00+00:00"),
            "promotions[1]",
        ),
        (
            lambda d: d["promotions"][1]["conditions"][0].update(kind="moon_phase"),
            "conditions[0].kind",
        ),
        (lambda d: d["promotions"][2]["rewards"][0].update(multiplier_of="ghost"), "multiplier_of"),
        (
            lambda d: d["promotions"][1]["rewards"][0].update(favourites_only="false"),
            "rewards[0].favourites_only",
        ),
        (  # a multiplier follows the lines of the promotion it multiplies
            lambda d: d["promotions"][2]["rewards"][0].update(favourites_only=True),
            "promotions[2].rewards[0]",
        ),
        (lambda d: d["product_sets"][0]["products"].append({"sku": "NOPE"}), "products[1]"),
        (lambda d: d.update(version=2), "$"),
    ],
)
def test_a_document_with_an_error_changes_nothing(world, change, where):
    document = _document(world)
    document["promotions"][1]["name"] = "Renamed"  # would be written, were the rest right
    change(document)
    counts = (Promotion.objects.count(), Reward.objects.count(), PromotionVersion.objects.count())
    with pytest.raises(ImportFailed) as failure:
        promotions_import(document)
    assert any(where in path for path, _message in failure.value.errors), failure.value.errors
    assert not Promotion.objects.filter(name="Renamed").exists()
    assert counts == (
        Promotion.objects.count(),
        Reward.objects.count(),
        PromotionVersion.objects.count(),
    )


def test_a_reward_on_favourites_only_goes_through_the_format(world):
    # given "5 % on your favourite lemonade" beside the world's promotions
    lemonade = ProductSet.objects.get(name="Lemonade")
    promotion(world, "Favourite lemonade", code="fav-lemon", rewards=[
        {"kind": "points_percent", "value": 5, "product_set": lemonade, "favourites_only": True}
    ])  # fmt: skip
    document = _document(world)
    rewards = {p["code"]: p["rewards"][0] for p in document["promotions"]}
    assert rewards["fav-lemon"]["favourites_only"] is True
    assert rewards["lemon5"]["favourites_only"] is False
    # when it is imported into an empty programme
    _wipe()
    promotions_import(document)
    # then the flag is back, and the document exported again is the same
    reward = Reward.objects.get(promotion__code="fav-lemon")
    assert (reward.favourites_only, reward.product_set.name) == (True, "Lemonade")
    assert _document(world)["promotions"][-1] == document["promotions"][-1]
    # and a document written before the flag existed imports as "every product"
    del document["promotions"][-1]["rewards"][0]["favourites_only"]
    promotions_import(document)
    assert Reward.objects.get(promotion__code="fav-lemon").favourites_only is False


def test_every_error_of_a_document_is_listed(world):
    document = _document(world)
    document["promotions"][0]["status"] = "live"
    document["promotions"][1]["rewards"][0]["currency"] = "nope"
    with pytest.raises(ImportFailed) as failure:
        promotions_import(document)
    assert len(failure.value.errors) >= 2


def test_the_commands_export_and_import(world, tmp_path):
    out = tmp_path / "promotions.json"
    call_command("export_promotions", "--output", str(out))
    document = json.loads(out.read_text())
    assert {p["code"] for p in document["promotions"]} == {"base", "lemon5", "double"}
    _wipe()
    stdout = io.StringIO()
    call_command("import_promotions", str(out), stdout=stdout)
    assert "imported 3 promotions" in stdout.getvalue()
    document["promotions"][0]["status"] = "live"
    out.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_promotions", str(out), stderr=io.StringIO())
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_promotions", str(tmp_path / "broken.json"))


def test_the_admin_imports_exports_and_keeps_versions(world, admin_client):
    document = _document(world)
    document["promotions"][1]["name"] = "Lemonade 6%"
    url = reverse("admin:promotions_promotion_import")
    assert admin_client.get(url).status_code == 200
    upload = io.BytesIO(json.dumps(document).encode())
    upload.name = "p.json"
    response = admin_client.post(url, {"document": upload})
    assert response.status_code == 302
    assert Promotion.objects.filter(name="Lemonade 6%").exists()
    document["promotions"][1]["rewards"][0]["currency"] = "nope"
    upload = io.BytesIO(json.dumps(document).encode())
    upload.name = "p.json"
    response = admin_client.post(url, {"document": upload})
    assert response.status_code == 200
    assert b"import-errors" in response.content
    assert b"rewards[0].currency" in response.content
    changelist = reverse("admin:promotions_promotion_changelist")
    ids = list(Promotion.objects.values_list("pk", flat=True))
    exported = admin_client.post(changelist, {"action": "export", "_selected_action": ids})
    assert exported["Content-Type"].startswith("application/json")
    assert len(json.loads(exported.content)["promotions"]) == 3
    paused = admin_client.post(changelist, {"action": "pause", "_selected_action": ids[:1]})
    assert paused.status_code == 302
    version = PromotionVersion.objects.filter(promotion_id=ids[0]).order_by("-number").first()
    assert version.source == "action"
    assert version.data["status"] == "paused"
    assert version.user.is_superuser


def test_copying_a_promotion_makes_a_draft_with_its_rules(world, admin_client):
    original = Promotion.objects.get(code="lemon5")
    changelist = reverse("admin:promotions_promotion_changelist")
    for _ in range(2):
        response = admin_client.post(
            changelist, {"action": "copy", "_selected_action": [original.pk]}
        )
        assert response.status_code == 302
    copies = Promotion.objects.filter(code__startswith="lemon5-copy-").order_by("code")
    assert [c.code for c in copies] == ["lemon5-copy-1", "lemon5-copy-2"]
    copy = copies[0]
    assert copy.status == Promotion.Status.DRAFT
    assert copy.name == "Lemonade 5% (copy)"
    assert copy.group_id == original.group_id
    assert [(c.kind, c.amount) for c in copy.conditions.all()] == [
        (c.kind, c.amount) for c in original.conditions.all()
    ]
    assert [(r.kind, r.value, r.product_set_id) for r in copy.rewards.all()] == [
        (r.kind, r.value, r.product_set_id) for r in original.rewards.all()
    ]
    assert copy.versions.get().source == "copy"
    assert Promotion.objects.get(pk=original.pk).status == Promotion.Status.ACTIVE


def test_multipliers_going_round_in_a_circle_are_refused_and_nothing_changes(world):
    document = _document(world)
    base = document["promotions"][0]
    base["rewards"].append(
        {"kind": "points_multiplier", "value": "2", "multiplier_of": "double", "currency": "bonus"}
    )
    versions = PromotionVersion.objects.count()
    with pytest.raises(ImportFailed) as failure:
        promotions_import(document)
    assert any("circle" in message for _path, message in failure.value.errors)
    assert PromotionVersion.objects.count() == versions
    assert Reward.objects.filter(promotion__code="base").count() == 1


def test_audience_dates_counters_limits_and_spending_rules_travel_too(world):
    from crm.models import Segment
    from loyalty.models import Counter, Store
    from promotions.models import SpendRule
    from tests.factories.loyalty import CardBatchFactory, CounterFactory

    vip = Segment.objects.create(programme=world.programme, code="vip", name="VIP")
    batch = CardBatchFactory(programme=world.programme, code="STAFF")
    steps = CounterFactory(programme=world.programme, code="over500", unit=Counter.Unit.STEPS)
    lemonade = ProductSet.objects.get(name="Lemonade")
    rule = SpendRule.objects.create(
        programme=world.programme,
        name="lemonade only",
        product_set=lemonade,
        min_receipt=D("200.00"),
        max_percent=D("20"),
    )
    rule.stores.set([world.store])
    made = promotion(
        world,
        "Everything",
        code="everything",
        card_types=["loyalty"],
        new_within_days=30,
        referred_only=True,
        around_date="birthday",
        days_before=3,
        days_after=3,
        budget=D("1000.00"),
        max_per_receipt=D("50.00"),
        uses_per_customer=2,
        uses_per_customer_day=1,
        uses_per_day=100,
        conditions=[{"kind": "nth_purchase", "counter": steps, "quantity": 5}],
        rewards=[
            {"kind": "points_fixed", "value": 100, "spend_rule": rule, "expires_on": "2026-12-31"},
            {"kind": "counter_step", "value": 1, "counter": steps},
            {"kind": "coupon", "value": 1, "coupon_series": "NEXT10"},
            {"kind": "discount_percent", "value": 5, "min_line_quantity": "2"},
        ],
    )
    made.segments.set([vip])
    made.card_batches.set([batch])
    made.terminals.set([world.terminal])
    document = _document(world)
    assert [r["name"] for r in document["spend_rules"]] == ["lemonade only"]
    exported = next(p for p in document["promotions"] if p["code"] == "everything")
    Reward.objects.all().delete()
    SpendRule.objects.all().delete()
    _wipe()
    promotions_import(document)
    again = _document(world)
    assert next(p for p in again["promotions"] if p["code"] == "everything") == exported
    assert again["spend_rules"] == document["spend_rules"]
    assert next(p for p in again["promotions"] if p["code"] == "everything")["terminals"] == [
        world.terminal.code
    ]
    assert SpendRule.objects.get().stores.get() == Store.objects.get(pk=world.store.pk)


def test_triggers_and_occasion_rewards_travel_too(world):
    from loyalty.models import Counter, EventType
    from tests.factories.loyalty import TierFactory

    reviews = EventType.objects.create(code="review_written", name="Review")
    monthly = Counter.objects.create(
        programme=world.programme, code="buys", name="Buys", period="month"
    )
    gold = TierFactory(programme=world.programme, code="gold", threshold=D("500"))
    made = [
        promotion(
            world,
            "Birthday",
            code="birthday",
            trigger="date",
            trigger_date="birthday",
            trigger_offset_days=-3,
            rewards=[{"kind": "points_fixed", "value": 300, "expires_days_after_date": 7}],
        ),
        promotion(
            world,
            "Friend",
            code="friend",
            trigger="first_purchase",
            referred_only=True,
            rewards=[{"kind": "points_fixed", "value": 200, "beneficiary": "referrer"}],
        ),
        promotion(
            world,
            "Reviews",
            code="reviews",
            trigger="event",
            event_type=reviews,
            rewards=[{"kind": "points_fixed", "value": 20}],
        ),
        promotion(
            world,
            "3 a month",
            code="three",
            trigger="counter",
            trigger_counter=monthly,
            trigger_value=3,
            rewards=[{"kind": "coupon", "value": 1, "coupon_series": "THREE"}],
        ),
        promotion(
            world,
            "Gold",
            code="gold",
            trigger="tier_change",
            trigger_tier=gold,
            rewards=[{"kind": "points_fixed", "value": 70}],
        ),
        promotion(
            world,
            "Allowance",
            code="allowance",
            trigger="monthly",
            trigger_day=1,
            rewards=[{"kind": "points_fixed", "value": 1000, "expires_day_of_next_month": 10}],
        ),
    ]
    document = _document(world)
    exported = {p["code"]: p for p in document["promotions"]}
    assert exported["birthday"]["trigger"]["date"] == "birthday"
    assert exported["birthday"]["trigger"]["offset_days"] == -3
    assert exported["friend"]["rewards"][0]["beneficiary"] == "referrer"
    assert exported["lemon5"]["trigger"] is None
    _wipe()
    promotions_import(document)
    again = {p["code"]: p for p in _document(world)["promotions"]}
    for promo in made:
        assert again[promo.code] == exported[promo.code]
    # An occasion promotion cannot give a percent of a receipt it does not have.
    bad = json.loads(json.dumps(document))
    next(p for p in bad["promotions"] if p["code"] == "reviews")["rewards"][0]["kind"] = (
        "points_percent"
    )
    bad["promotions"][0]["trigger"] = {"kind": "event", "event_type": "nope"}
    with pytest.raises(ImportFailed) as failed:
        promotions_import(bad)
    paths = [path for path, _message in failed.value.errors]
    assert any(path.endswith("trigger.event_type") for path in paths)
    assert any(path.endswith("rewards[0]") or ".rewards[0]" in path for path in paths)


@pytest.mark.parametrize("kind", ["contains", "line"])
def test_a_condition_naming_a_product_set_of_the_same_document_imports(world, kind):
    # given "5 % on bread when the receipt holds lemonade", whose condition names a product set
    lemonade = ProductSet.objects.get(name="Lemonade")
    promotion(
        world,
        "Bread with lemonade",
        code="bread-with-lemon",
        conditions=[{"kind": kind, "product_set": lemonade, "quantity": 1}],
        rewards=[{"kind": "discount_percent", "value": 5}],
    )
    before = _numbers(world)
    document = _document(world)
    # when it is imported where neither the promotion nor the product set exists yet
    _wipe()
    assert not ProductSet.objects.exists()
    promotions_import(document)
    snapshot_invalidate()
    # then the condition names the set written by the same import, and the numbers are the same
    condition = Condition.objects.get(promotion__code="bread-with-lemon")
    assert (condition.kind, condition.product_set.name) == (kind, "Lemonade")
    assert list(condition.product_set.products.values_list("sku", flat=True)) == ["LEMON"]
    after = _numbers(world, "R2")
    assert after["lines"] == before["lines"]
    assert "Bread with lemonade" in {p["name"] for p in after["promotions"]}
    assert next(p for p in _document(world)["promotions"] if p["code"] == "bread-with-lemon") == (
        next(p for p in document["promotions"] if p["code"] == "bread-with-lemon")
    )


def test_a_condition_naming_a_missing_product_set_is_still_refused(world):
    document = _document(world)
    document["promotions"][1]["conditions"].append(
        {"or_group": 1, "kind": "contains", "quantity": "1", "product_set": None}
    )
    document["promotions"][1]["conditions"].append(
        {"or_group": 1, "kind": "contains", "quantity": "1", "product_set": "Ghost"}
    )
    with pytest.raises(ImportFailed) as failure:
        promotions_import(document)
    paths = [path for path, _message in failure.value.errors]
    assert "promotions[1].conditions[1].product_set" in paths
    assert "promotions[1].conditions[2].product_set" in paths


def _percent_row(code: str, percent: str) -> dict:
    return {
        "code": code,
        "programme": None,  # set by the test
        "partner": None,
        "name": f"{percent} % off",
        "status": "active",
        "priority": 5,
        "starts_at": "2026-01-01T00:00:00+00:00",
        "rewards": [{"kind": "discount_percent", "value": percent}],
    }


@pytest.mark.parametrize("existing", [False, True], ids=["new code", "existing code"])
def test_one_code_twice_in_a_document_is_refused_and_changes_nothing(world, existing):
    # given a document with the code "twice" in two rows (10 % and 20 %)
    if existing:
        promotion(world, "Twice", code="twice", rewards=[{"kind": "discount_percent", "value": 3}])
    rows = [_percent_row("twice", "10"), _percent_row("twice", "20")]
    for row in rows:
        row["programme"] = world.programme.code
    document = {"format": FORMAT, "version": 1, "promotions": rows}
    counts = (Promotion.objects.count(), Reward.objects.count(), PromotionVersion.objects.count())
    # when it is imported, then it is refused with the list of errors naming the code
    with pytest.raises(ImportFailed) as failure:
        promotions_import(document)
    assert any(
        path == "promotions[1].code" and "twice" in message
        for path, message in failure.value.errors
    ), failure.value.errors
    # and nothing changed: an existing promotion keeps its one reward
    assert counts == (
        Promotion.objects.count(),
        Reward.objects.count(),
        PromotionVersion.objects.count(),
    )
    if existing:
        assert list(
            Reward.objects.filter(promotion__code="twice").values_list("value", flat=True)
        ) == [D("3")]


def test_the_command_lists_a_duplicated_code(world, tmp_path):
    rows = [_percent_row("twice", "10"), _percent_row("twice", "20")]
    for row in rows:
        row["programme"] = world.programme.code
    path = tmp_path / "twice.json"
    path.write_text(json.dumps({"format": FORMAT, "version": 1, "promotions": rows}))
    stderr = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_promotions", str(path), stderr=stderr)
    assert "promotions[1].code" in stderr.getvalue()
    assert "twice" in stderr.getvalue()
    assert not Promotion.objects.filter(code="twice").exists()


def test_one_product_set_name_twice_in_a_document_is_refused(world):
    document = _document(world)
    document["product_sets"].append(dict(document["product_sets"][0], products=[]))
    _wipe()
    with pytest.raises(ImportFailed) as failure:
        promotions_import(document)
    assert [path for path, _message in failure.value.errors] == ["product_sets[1].name"]
    assert not ProductSet.objects.exists()
