"""Partner isolation over every model registered in the admin.

A staff user of partner A, given every permission there is, can neither list, open, change,
delete, act on (exports are actions), find through search nor autocomplete any object of
partner B; models hidden from partner staff do not open at all; shared reference data opens
read-only. The test walks ``admin.site._registry``: a new model fails it until it has a policy
in ``loyalty.isolation.POLICIES`` and, when partner-owned, a builder below.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from crm.models import Segment
from loyalty.isolation import HIDDEN, POLICIES, SHARED, policy_of
from loyalty.models import (
    CardImport,
    CertificateEntry,
    CertificateSeries,
    Currency,
    CustomerEvent,
    DataImport,
    EventType,
    GiftCertificate,
    Partner,
    Programme,
    Refund,
    RfmScheme,
    SegmentImport,
    StaffProfile,
    TerminalAPIKey,
)
from promotions.models import (
    CompatibilityGroup,
    Coupon,
    CouponRedemption,
    CouponSeries,
    Draw,
    ProductSet,
    Promotion,
    SpendRule,
    TriggerFiring,
)
from reports.models import Backtest
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ActiveCardFactory,
    CardBatchFactory,
    CounterFactory,
    CurrencyFactory,
    PartnerFactory,
    ProductFactory,
    ProductListFactory,
    ReceiptFactory,
    StoreFactory,
    TerminalFactory,
    TierFactory,
)

pytestmark = pytest.mark.django_db
REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@dataclass
class PartnerB:
    partner: Partner
    programme: Programme
    store: object
    terminal: object
    receipt: object
    customer: object
    promotion: Promotion
    series: CouponSeries


@pytest.fixture
def b() -> PartnerB:
    partner = PartnerFactory(name="Bravo Market")
    programme = Programme.objects.create(code="bravo", name="Bravo club", partner=partner)
    store = StoreFactory(partner=partner, name="Bravo store")
    terminal = TerminalFactory(store=store)
    receipt = ReceiptFactory(terminal=terminal, receipt_id="BRAVO-1")
    promotion = Promotion.objects.create(
        programme=programme, partner=partner, name="Bravo spring", starts_at=timezone.now()
    )
    series = CouponSeries.objects.create(
        programme=programme, partner=partner, code="BRAVO", name="Bravo coupons"
    )
    return PartnerB(
        partner, programme, store, terminal, receipt, CustomerFactory(), promotion, series
    )


def _certificate(b: PartnerB) -> GiftCertificate:
    series, _ = CertificateSeries.objects.get_or_create(
        code="BRAVO-GC",
        defaults={"programme": b.programme, "name": "Bravo gift", "nominal": Decimal("1000")},
    )
    return GiftCertificate.objects.get_or_create(
        code="BRAVOGIFT0000001", defaults={"series": series, "nominal": 1000}
    )[0]


def _csv(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"number\n", content_type="text/csv")


# Partner B's object of every partner-owned model.
BUILDERS = {
    "crm.Segment": lambda b: Segment.objects.create(
        programme=b.programme, code="bravo-seg", name="Bravo regulars"
    ),
    "loyalty.Partner": lambda b: b.partner,
    "loyalty.Programme": lambda b: b.programme,
    "loyalty.Currency": lambda b: CurrencyFactory(programme=b.programme, code="bravo-pts"),
    "loyalty.Tier": lambda b: TierFactory(programme=b.programme, code="bravo-gold"),
    "loyalty.Counter": lambda b: CounterFactory(programme=b.programme, code="bravo-visits"),
    "loyalty.RfmScheme": lambda b: RfmScheme.objects.create(
        programme=b.programme, code="bravo-rfm", name="Bravo RFM"
    ),
    "loyalty.Store": lambda b: b.store,
    "loyalty.Terminal": lambda b: b.terminal,
    "loyalty.TerminalAPIKey": lambda b: TerminalAPIKey.objects.create_key(
        name="Bravo key", terminal=b.terminal
    )[0],
    "loyalty.Receipt": lambda b: b.receipt,
    "loyalty.Refund": lambda b: Refund.objects.create(
        receipt=b.receipt,
        terminal=b.terminal,
        kind=Refund.Kind.CANCEL,
        refund_id="BRAVO-F1",
        fingerprint="f",
    ),
    "loyalty.CustomerEvent": lambda b: CustomerEvent.objects.create(
        terminal=b.terminal,
        partner=b.partner,
        event_id="BRAVO-E1",
        type=EventType.objects.get_or_create(code="visit", defaults={"name": "Visit"})[0],
        customer=b.customer,
        occurred_at=timezone.now(),
        fingerprint="f",
    ),
    "loyalty.Product": lambda b: ProductFactory(partner=b.partner, name="Bravo bread"),
    "loyalty.ProductList": lambda b: ProductListFactory(partner=b.partner, name="Bravo list"),
    "loyalty.DataImport": lambda b: DataImport.objects.create(
        kind=DataImport.Kind.STORES, file=_csv("bravo-stores.csv"), partner=b.partner
    ),
    "loyalty.Card": lambda b: ActiveCardFactory(customer=b.customer, programme=b.programme),
    "loyalty.CardBatch": lambda b: CardBatchFactory(programme=b.programme),
    "loyalty.CardImport": lambda b: CardImport.objects.create(
        batch=CardBatchFactory(programme=b.programme), file=_csv("bravo-cards.csv")
    ),
    "loyalty.SegmentImport": lambda b: SegmentImport.objects.create(
        segment=Segment.objects.get_or_create(
            programme=b.programme, code="bravo-seg", defaults={"name": "Bravo regulars"}
        )[0],
        file=_csv("bravo-phones.csv"),
    ),
    "loyalty.CertificateSeries": lambda b: _certificate(b).series,
    "loyalty.GiftCertificate": _certificate,
    "loyalty.CertificateEntry": lambda b: CertificateEntry.objects.create(
        certificate=_certificate(b),
        kind=CertificateEntry.Kind.ACTIVATE,
        amount=Decimal("1000"),
        balance_after=Decimal("1000"),
        created_at=timezone.now(),
        partner=b.partner,
    ),
    "promotions.Promotion": lambda b: b.promotion,
    "promotions.CompatibilityGroup": lambda b: CompatibilityGroup.objects.create(
        programme=b.programme, name="Bravo group"
    ),
    "promotions.CouponSeries": lambda b: b.series,
    "promotions.Coupon": lambda b: Coupon.objects.create(
        series=b.series, code="BRAVO0001", valid_from=timezone.now()
    ),
    "promotions.CouponRedemption": lambda b: CouponRedemption.objects.create(
        coupon=Coupon.objects.create(series=b.series, code="BRAVO0002", valid_from=timezone.now()),
        receipt=b.receipt,
    ),
    "promotions.Draw": lambda b: Draw.objects.create(
        programme=b.programme,
        partner=b.partner,
        name="Bravo draw",
        prize_description="A bicycle",
        period_from=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        period_to=datetime.datetime(2026, 1, 31, tzinfo=datetime.UTC),
    ),
    "promotions.ProductSet": lambda b: ProductSet.objects.create(
        programme=b.programme, partner=b.partner, name="Bravo set"
    ),
    "promotions.SpendRule": lambda b: SpendRule.objects.create(
        programme=b.programme, name="Bravo spend"
    ),
    "promotions.TriggerFiring": lambda b: TriggerFiring.objects.create(
        promotion=b.promotion, customer=b.customer, key="k", occurred_at=timezone.now()
    ),
    "reports.Backtest": lambda b: Backtest.objects.create(
        promotion=b.promotion,
        since=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        until=datetime.datetime(2026, 1, 31, tzinfo=datetime.UTC),
    ),
}


@pytest.fixture
def partner_a_staff(client):
    """A staff user of partner A with every permission there is: only isolation stops them."""
    partner_a = PartnerFactory(name="Alpha Pharmacy")
    user = get_user_model().objects.create_user("alpha", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    StaffProfile.objects.create(user=user, partner=partner_a)
    client.force_login(user)
    return client


def _url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def _listed(response) -> set:
    return {obj.pk for obj in response.context["cl"].result_list}


def _content(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _object_urls(model, model_admin, pk) -> list[str]:
    """The admin's pages of one object: change, delete, history and its own extra views."""
    urls = [_url(model, view, pk) for view in ("change", "delete", "history")]
    for pattern in model_admin.get_urls():
        route = str(pattern.pattern)
        if route.startswith("<path:object_id>/") and pattern.name and route.count("<") == 1:
            try:
                urls.append(reverse(f"admin:{pattern.name}", args=[pk]))
            except NoReverseMatch:
                continue
    return sorted(set(urls))


def _autocompletes_to(model):
    """(app_label, model_name, field_name) of every autocomplete field that offers ``model``."""
    for source, source_admin in admin.site._registry.items():
        for name in source_admin.autocomplete_fields:
            if source._meta.get_field(name).related_model is model:
                yield source._meta.app_label, source._meta.model_name, name


def test_every_admin_model_has_a_partner_policy():
    missing = [model._meta.label for model, _ in REGISTRY if policy_of(model) is None]
    assert not missing, f"give these models a policy in loyalty.isolation.POLICIES: {missing}"
    stale = set(POLICIES) - {model._meta.label for model, _ in REGISTRY}
    assert not stale, f"policies of models no longer in the admin: {stale}"


def test_every_partner_owned_model_has_a_builder_here():
    owned = {model._meta.label for model, _ in REGISTRY if policy_of(model).access == "own"}
    assert owned <= set(BUILDERS), f"add builders for {sorted(owned - set(BUILDERS))}"


def _label(item) -> str:
    return item[0]._meta.label


OWNED = [(m, a) for m, a in REGISTRY if (policy_of(m) or HIDDEN).access == "own"]


@pytest.mark.parametrize(("model", "model_admin"), OWNED, ids=[_label(i) for i in OWNED])
def test_partner_staff_never_reach_another_partners_object(
    model, model_admin, b, partner_a_staff, admin_client
):
    theirs = BUILDERS[model._meta.label](b)
    changelist = _url(model, "changelist")
    # coalition staff see it (so the checks below are about isolation, not an empty list)
    assert theirs.pk in _listed(admin_client.get(changelist, {"all": ""}))
    # partner A's staff: not listed, not found by search
    response = partner_a_staff.get(changelist)
    assert response.status_code == 200
    assert theirs.pk not in _listed(response)
    assert str(theirs) not in _content(response)  # nor named by a filter
    term = str(theirs)[:30]
    searched = partner_a_staff.get(changelist, {"q": term})
    assert searched.status_code == 200
    assert theirs.pk not in _listed(searched)
    # not opened, changed, deleted, nor any of the object's own pages
    for url in _object_urls(model, model_admin, theirs.pk):
        assert partner_a_staff.get(url).status_code in (302, 403, 404, 405), url
    posted = partner_a_staff.post(_url(model, "change", theirs.pk), {})
    assert posted.status_code in (302, 403, 404)
    assert partner_a_staff.post(_url(model, "delete", theirs.pk), {"post": "yes"}).status_code in (
        302,
        403,
        404,
    )
    assert model._default_manager.filter(pk=theirs.pk).exists()
    # no action (exports included) reaches it: what an action answers never names it, and the
    # object is as it was
    before = model_to_dict(theirs)
    for action in model_admin.get_actions(response.wsgi_request):
        acted = partner_a_staff.post(
            changelist, {"action": action, "_selected_action": [theirs.pk], "post": "yes"}
        )
        assert acted.status_code in (200, 302), action
        assert str(theirs) not in _content(acted), action
    refreshed = model._default_manager.get(pk=theirs.pk)
    assert model_to_dict(refreshed) == before
    # not offered by autocomplete anywhere
    for app_label, model_name, field_name in _autocompletes_to(model):
        found = partner_a_staff.get(
            reverse("admin:autocomplete"),
            {"app_label": app_label, "model_name": model_name, "field_name": field_name},
        )
        if found.status_code == 200:
            assert str(theirs.pk) not in {row["id"] for row in found.json()["results"]}
        else:
            assert found.status_code == 403


HIDDEN_MODELS = [(m, a) for m, a in REGISTRY if policy_of(m) is HIDDEN]


@pytest.mark.parametrize(
    ("model", "model_admin"), HIDDEN_MODELS, ids=[_label(i) for i in HIDDEN_MODELS]
)
def test_hidden_models_do_not_open_for_partner_staff(model, model_admin, partner_a_staff):
    assert partner_a_staff.get(_url(model, "changelist")).status_code == 403
    assert partner_a_staff.get(_url(model, "add")).status_code == 403
    index = partner_a_staff.get(reverse("admin:index"))
    shown = {m["model"] for app in index.context["app_list"] for m in app["models"]}
    assert model not in shown


SHARED_MODELS = [(m, a) for m, a in REGISTRY if policy_of(m) is SHARED]


@pytest.mark.parametrize(
    ("model", "model_admin"), SHARED_MODELS, ids=[_label(i) for i in SHARED_MODELS]
)
def test_shared_reference_data_is_read_only_for_partner_staff(model, model_admin, partner_a_staff):
    assert partner_a_staff.get(_url(model, "changelist")).status_code == 200
    assert partner_a_staff.get(_url(model, "add")).status_code == 403


def test_partner_staff_forms_offer_only_their_own_partner_and_stores(partner_a_staff, b):
    alpha = Partner.objects.get(name="Alpha Pharmacy")
    alpha_store = StoreFactory(partner=alpha, name="Alpha store")
    store_form = partner_a_staff.get(_url(type(b.store), "add")).context["adminform"].form
    assert list(store_form.fields["partner"].queryset) == [alpha]
    terminal_form = partner_a_staff.get(_url(type(b.terminal), "add")).context["adminform"].form
    assert list(terminal_form.fields["store"].queryset) == [alpha_store]


def test_the_thanks_staff_page_shows_partner_staff_only_their_colleagues(client):
    give = CurrencyFactory(code="thanks_to_give", name="Thanks to give", rub_rate=0)
    give.given_as = Currency.objects.create(
        programme=give.programme, code="thanks", name="Thanks", rub_rate=0
    )
    give.save()
    alpha, bravo = PartnerFactory(name="Alpha"), PartnerFactory(name="Bravo")
    people = {}
    for name, partner in [("anna", alpha), ("alex", alpha), ("boris", bravo)]:
        person = CustomerFactory(first_name=name.title(), last_name="Staff")
        user = get_user_model().objects.create_user(name, password="pw", is_staff=True)
        StaffProfile.objects.create(user=user, customer=person, partner=partner)
        people[name] = (user, person)
    client.force_login(people["anna"][0])
    response = client.get(reverse("staff:thanks"))
    receivers = list(response.context["form"].fields["receiver"].queryset)
    assert receivers == [people["alex"][1]]
    assert "Boris" not in response.content.decode()


# Every staff page outside the admin and what partner staff get there: "forbidden" (the
# coalition's pages) or "scoped" (their own partner's data only, tested above or in the page's
# own tests).
STAFF_PAGES = {
    "staff:thanks": "scoped",
    "reports:contact_centre": "forbidden",
    "reports:segments": "scoped",  # tests/reports/test_segments_report.py
    "reports:segment": "scoped",
    "console:search": "forbidden",
    "console:customer": "forbidden",
    "console:reveal": "forbidden",
    "console:ticket_open": "forbidden",
    "console:adjust": "forbidden",
    "console:resend": "forbidden",
    "console:verify_send": "forbidden",
    "console:verify_code": "forbidden",
    "console:card": "forbidden",
    "console:adjustments": "forbidden",
    "console:decide": "forbidden",
}
# Example arguments of the pages that take some.
STAFF_PAGE_ARGS = {
    "console:customer": [1],
    "console:reveal": [1, "phone"],
    "console:ticket_open": [1],
    "console:adjust": [1],
    "console:resend": [1],
    "console:verify_send": [1, "sms"],
    "console:verify_code": [1],
    "console:card": [1, 1, "block"],
    "console:decide": [1, "approve"],
}


def _staff_url_names() -> set[str]:
    from django.urls import get_resolver

    names = set()
    for top in get_resolver().url_patterns:
        if str(top.pattern).startswith("staff/") and hasattr(top, "url_patterns"):
            for pattern in top.url_patterns:
                if pattern.name:
                    names.add(f"{top.namespace}:{pattern.name}")
    return names


def test_every_staff_page_is_declared():
    assert _staff_url_names() == set(STAFF_PAGES)


@pytest.mark.parametrize(
    "name", sorted(name for name, kind in STAFF_PAGES.items() if kind == "forbidden")
)
def test_partner_staff_are_refused_the_coalitions_staff_pages(name, partner_a_staff):
    url = reverse(name, args=STAFF_PAGE_ARGS.get(name, []))
    assert partner_a_staff.get(url).status_code in (403, 405)
    assert partner_a_staff.post(url, {}).status_code == 403


def test_no_list_page_names_anything_of_partner_b(b, partner_a_staff):
    """With every kind of partner B's object in the database, no list page partner A's staff
    open (filters, columns, counts included) says "Bravo"."""
    for build in BUILDERS.values():
        build(b)
    for model, _model_admin in REGISTRY:
        response = partner_a_staff.get(_url(model, "changelist"))
        if response.status_code == 403:
            continue
        assert response.status_code == 200, model._meta.label
        assert "bravo" not in _content(response).lower(), model._meta.label
