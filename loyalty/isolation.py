"""Partner isolation in the admin: partner staff see and change only their own partner's objects.

Every model registered in the admin has one policy in ``POLICIES``:

- ``own(path)``: rows belong to the partner reached by the ORM lookup ``path`` (``"partner"``,
  ``"store__partner"``...). Partner staff list, open, change, export, search and autocomplete
  only their partner's rows; with ``coalition_rows=True`` they also *see* (never change) the
  coalition's rows, whose path is empty (a coalition-wide programme, currency, tier...).
- ``SHARED``: reference data of the whole coalition (brands, categories...): partner staff may
  look, never add, change or delete.
- ``HIDDEN``: the coalition's own business (customers' personal data, the ledger, the contact
  centre, users and schedules): partner staff do not see the model at all.

``PartnerAdminSite`` applies the policy to every ``ModelAdmin`` registered, third-party ones
included, so no admin can forget it; a model without a policy is hidden from partner staff and
fails ``tests/project/test_partner_isolation.py`` until someone gives it one. Coalition staff
and superusers are never limited.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q
from unfold.admin import ModelAdmin
from unfold.sites import UnfoldAdminSite

from loyalty.declension import DeclinedTitles
from loyalty.models.partners import Partner, staff_partner_id


@dataclass(frozen=True)
class Policy:
    access: str  # "own", "shared" or "hidden"
    path: str = ""
    coalition_rows: bool = False
    editable: bool = True


SHARED = Policy("shared")
HIDDEN = Policy("hidden")


def own(path: str, *, coalition_rows: bool = False, editable: bool = True) -> Policy:
    return Policy("own", path, coalition_rows, editable)


POLICIES: dict[str, Policy] = {
    # Django and third-party models: the coalition's administrators only.
    "auth.Group": HIDDEN,
    "auth.User": HIDDEN,
    "django_celery_beat.ClockedSchedule": HIDDEN,
    "django_celery_beat.CrontabSchedule": HIDDEN,
    "django_celery_beat.IntervalSchedule": HIDDEN,
    "django_celery_beat.PeriodicTask": HIDDEN,
    "django_celery_beat.SolarSchedule": HIDDEN,
    # Customers and what is said to them: personal data of the coalition.
    "communications.Message": HIDDEN,
    "crm.Car": HIDDEN,
    "crm.Consent": HIDDEN,
    "crm.ContactVerification": HIDDEN,
    "crm.Customer": HIDDEN,
    "crm.DuplicateSuggestion": HIDDEN,
    "crm.FamilyMember": HIDDEN,
    "crm.MemorableDate": HIDDEN,
    "crm.ProfileAnswer": HIDDEN,
    "crm.ProfileQuestion": HIDDEN,
    "crm.Segment": own("programme__partner", coalition_rows=True),
    # The contact centre serves the whole coalition.
    "contactcenter.Adjustment": HIDDEN,
    "contactcenter.AdjustmentPolicy": HIDDEN,
    "contactcenter.Queue": HIDDEN,
    "contactcenter.SLAPolicy": HIDDEN,
    "contactcenter.Ticket": HIDDEN,
    "contactcenter.TicketCategory": HIDDEN,
    "contactcenter.TicketEscalation": HIDDEN,
    "contactcenter.WorkingCalendar": HIDDEN,
    # The ledger and the customers' standing: the coalition's accounting.
    "loyalty.Account": HIDDEN,
    "audit.AuditEvent": HIDDEN,
    "loyalty.CounterValue": HIDDEN,
    "loyalty.FavouriteProduct": HIDDEN,
    "loyalty.Hold": HIDDEN,
    "loyalty.LedgerEntry": HIDDEN,
    "loyalty.Lot": HIDDEN,
    "loyalty.PeerThanks": HIDDEN,
    "loyalty.Posting": HIDDEN,
    "loyalty.TierChange": HIDDEN,
    "loyalty.TierMembership": HIDDEN,
    "promotions.LifecycleRun": HIDDEN,
    # Reference data of the coalition.
    "loyalty.Brand": SHARED,
    "loyalty.Category": SHARED,
    "loyalty.EventType": SHARED,
    # The partner's own things.
    "loyalty.Partner": own("id", editable=False),
    "loyalty.Programme": own("partner", coalition_rows=True),
    "loyalty.Currency": own("programme__partner", coalition_rows=True),
    "loyalty.Tier": own("programme__partner", coalition_rows=True),
    "loyalty.Counter": own("programme__partner", coalition_rows=True),
    "loyalty.RfmScheme": own("programme__partner", coalition_rows=True),
    "loyalty.Store": own("partner"),
    "loyalty.Terminal": own("store__partner"),
    "loyalty.TerminalAPIKey": own("terminal__store__partner"),
    "loyalty.Receipt": own("partner"),
    "loyalty.Refund": own("receipt__partner"),
    "loyalty.CustomerEvent": own("partner"),
    "loyalty.Product": own("partner", coalition_rows=True),
    "loyalty.ProductList": own("partner", coalition_rows=True),
    "loyalty.DataImport": own("partner"),
    "loyalty.Card": own("programme__partner"),
    "loyalty.CardBatch": own("programme__partner"),
    "loyalty.CardImport": own("batch__programme__partner"),
    "loyalty.SegmentImport": own("segment__programme__partner"),
    "loyalty.CertificateSeries": own("programme__partner", coalition_rows=True),
    "loyalty.GiftCertificate": own("series__programme__partner"),
    "loyalty.CertificateEntry": own("partner"),
    "promotions.Promotion": own("partner"),
    "promotions.CompatibilityGroup": own("programme__partner", coalition_rows=True),
    "promotions.CouponSeries": own("partner"),
    "promotions.Coupon": own("series__partner"),
    "promotions.CouponRedemption": own("coupon__series__partner"),
    "promotions.Draw": own("partner"),
    "promotions.ProductSet": own("partner", coalition_rows=True),
    "promotions.SpendRule": own("programme__partner", coalition_rows=True),
    "promotions.TriggerFiring": own("promotion__partner"),
    "reports.Backtest": own("promotion__partner"),
}


def policy_of(model) -> Policy | None:
    return POLICIES.get(model._meta.label)


def _partner_id_of(obj, path: str) -> int | None:
    """The id of the partner ``obj`` belongs to, following ``path`` attribute by attribute."""
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop, None)
        if obj is None:
            return None
    if last in ("id", "pk"):
        return obj.pk
    return getattr(obj, f"{last}_id", None)


class PartnerIsolated:
    """The ``ModelAdmin`` mixin that applies the model's policy to partner staff."""

    partner_policy: Policy | None = None

    def _partner(self, request) -> int | None:
        return staff_partner_id(request.user)

    def _hidden(self) -> bool:
        return self.partner_policy is None or self.partner_policy.access == "hidden"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        partner_id = self._partner(request)
        if partner_id is None:
            return queryset
        policy = self.partner_policy
        if self._hidden():
            return queryset.none()
        if policy.access == "own":
            mine = Q(**{policy.path: partner_id})
            if policy.coalition_rows:
                mine |= Q(**{f"{policy.path}__isnull": True})
            queryset = queryset.filter(mine)
        return queryset

    def _may_change(self, request, obj) -> bool:
        """Whether the user may change ``obj`` (with None: add, or change some of their own)."""
        partner_id = self._partner(request)
        if partner_id is None:
            return True
        policy = self.partner_policy
        if self._hidden() or policy.access == "shared" or not policy.editable:
            return False
        return obj is None or _partner_id_of(obj, policy.path) == partner_id

    def _may_view(self, request, obj) -> bool:
        partner_id = self._partner(request)
        if partner_id is None:
            return True
        policy = self.partner_policy
        if self._hidden():
            return False
        if obj is None or policy.access == "shared":
            return True
        owner = _partner_id_of(obj, policy.path)
        return owner == partner_id or (policy.coalition_rows and owner is None)

    def has_module_permission(self, request):
        return super().has_module_permission(request) and self._may_view(request, None)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._may_view(request, obj)

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and self._may_change(request, None)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_change(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_change(request, obj)

    def get_list_filter(self, request):
        """Partner staff's filters offer only the related rows their own list holds (a filter by
        store must not name another partner's stores)."""
        filters = super().get_list_filter(request)
        if self._partner(request) is None:
            return filters
        return [_related_only(self.model, entry) for entry in filters]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        limit_choices(self.admin_site, db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        limit_choices(self.admin_site, db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        if self._partner(request) is not None:
            for inline in inlines:
                _limit_inline(inline, self.admin_site)
        return inlines

    def save_model(self, request, obj, form, change):
        partner_id = self._partner(request)
        policy = self.partner_policy
        if (
            partner_id is not None
            and not change
            and policy is not None
            and policy.access == "own"
            and policy.path == "partner"
            and getattr(obj, "partner_id", None) is None
        ):
            obj.partner_id = partner_id  # what partner staff add is their partner's
        super().save_model(request, obj, form, change)


def _related_only(model, entry):
    if isinstance(entry, str):
        name, filter_class = entry, admin.RelatedFieldListFilter
    elif isinstance(entry, tuple | list) and len(entry) == 2 and isinstance(entry[0], str):
        name, filter_class = entry
    else:
        return entry  # a filter class of its own: it answers for its choices
    if filter_class is not admin.RelatedFieldListFilter:
        return entry
    try:
        field = get_fields_from_path(model, name)[-1]
    except (FieldDoesNotExist, NotRelationField):
        return entry
    return (name, admin.RelatedOnlyFieldListFilter) if field.is_relation else entry


def limit_choices(site, db_field, request, kwargs) -> None:
    """Offer partner staff only what they may see: their own partner, and rows of isolated
    models through those models' admins (the one source of partner scoping: no admin filters
    its choices by partner itself)."""
    partner_id = staff_partner_id(request.user)
    if partner_id is None:
        return
    related = db_field.related_model
    related_admin = site._registry.get(related)
    if related is Partner:
        allowed = Partner.objects.filter(pk=partner_id)
    elif isinstance(related_admin, PartnerIsolated):
        allowed = related_admin.get_queryset(request)
    else:
        return
    given = kwargs.get("queryset")
    # A queryset the admin chose (an order, a narrower set) is kept within what they may see.
    kwargs["queryset"] = allowed if given is None else given.filter(pk__in=allowed.values("pk"))


def _limit_inline(inline, site) -> None:
    fk_choices = inline.formfield_for_foreignkey
    m2m_choices = inline.formfield_for_manytomany

    def formfield_for_foreignkey(db_field, request, **kwargs):
        limit_choices(site, db_field, request, kwargs)
        return fk_choices(db_field, request, **kwargs)

    def formfield_for_manytomany(db_field, request, **kwargs):
        limit_choices(site, db_field, request, kwargs)
        return m2m_choices(db_field, request, **kwargs)

    inline.formfield_for_foreignkey = formfield_for_foreignkey
    inline.formfield_for_manytomany = formfield_for_manytomany


def isolated(admin_class, model):
    """``admin_class`` with the model's partner policy applied."""
    if issubclass(admin_class, PartnerIsolated):
        return admin_class
    return type(
        admin_class.__name__,
        (PartnerIsolated, admin_class),
        {"partner_policy": policy_of(model), "__module__": admin_class.__module__},
    )


class FrameDefaults:
    """What unfold's templates read of every admin and unfold's ``ModelAdmin`` leaves
    undefined. ``conditional_fields`` is read on each row of a change form: a missing attribute
    makes the template engine list the admin's 240 names (``dir()``) to tell it from a failing
    property, on every row (10-15 ms on the promotion page). Empty, as missing reads: no field
    shows on a condition."""

    conditional_fields: dict = {}  # read, never changed


def framed(admin_class: type) -> type:
    """``admin_class`` dressed in the back office's frame: a third-party admin (Django's
    groups, Celery beat's schedules) gets unfold's ``ModelAdmin`` mixed in, so its forms and
    lists look like every other page; every admin gets ``FrameDefaults`` under its own
    attributes."""
    if not issubclass(admin_class, ModelAdmin):
        admin_class = type(
            admin_class.__name__,
            (admin_class, ModelAdmin),
            {"__module__": admin_class.__module__},
        )
    if hasattr(admin_class, "conditional_fields"):
        return admin_class
    return type(
        admin_class.__name__,
        (admin_class, FrameDefaults),
        {"__module__": admin_class.__module__},
    )


def declined(admin_class: type) -> type:
    """``admin_class`` with its titles naming the model in the case the sentence needs
    (``loyalty.declension``: "Добавить акцию", not "Добавить акция")."""
    if issubclass(admin_class, DeclinedTitles):
        return admin_class
    return type(
        admin_class.__name__,
        (DeclinedTitles, admin_class),
        {"__module__": admin_class.__module__},
    )


class PartnerAdminSite(UnfoldAdminSite):
    """The admin site (in unfold's frame): every model registered gets its partner policy and
    titles that decline its name."""

    def register(self, model_or_iterable, admin_class=None, **options):
        models = [model_or_iterable] if hasattr(model_or_iterable, "_meta") else model_or_iterable
        for model in models:
            wrapped = declined(isolated(framed(admin_class or ModelAdmin), model))
            super().register(model, wrapped, **options)
