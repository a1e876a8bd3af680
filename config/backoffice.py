"""The back office's frame (django-unfold): the navigation by the user's job and the role-aware
home page.

The sidebar groups pages by what people do (Promotions, Customers, Cards, Contact centre,
Reports, Settings), not by Django app. Each entry is shown only to a user the page lets in:
a model's entry asks its registered admin (so partner isolation and roles decide, as on the
page itself), a staff page asks the permission its view checks. The home page shows each
role its work: a marketer the running promotions with their live figures, the drafts and what
ends this week; an operator the console's search and their open tickets; the back office the
latest imports; partner staff their own partner.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import F
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from contactcenter.models import Ticket
from contactcenter.views import APPROVE_PERMISSION, CONSOLE_PERMISSION
from loyalty.models import CardImport, DataImport, Partner, SegmentImport, staff_partner_id
from promotions.figures import promotion_figures
from promotions.models import Promotion

# (label, model label or page, icon): a model is "app_label.ModelName"; a page is a callable
# (url name, permission check) entry made by ``_page``.
Entry = tuple[Promise, Any, str]


def _page(url_name: str, allowed: Callable[[Any], bool]) -> tuple[str, Callable[[Any], bool]]:
    return (url_name, allowed)


def _console_user(user) -> bool:
    return staff_partner_id(user) is None and (
        user.has_perm(CONSOLE_PERMISSION) or user.has_perm(APPROVE_PERMISSION)
    )


def _approver(user) -> bool:
    return staff_partner_id(user) is None and user.has_perm(APPROVE_PERMISSION)


def _promotion_reader(user) -> bool:
    return user.has_perm("promotions.view_promotion") or user.has_perm(
        "promotions.change_promotion"
    )


def _segment_maker(user) -> bool:
    return user.has_perm("crm.add_segment")


def _ticket_reader(user) -> bool:
    return user.has_perm("contactcenter.view_ticket")


def _segment_reader(user) -> bool:
    return user.has_perm("crm.view_segment") or user.has_perm("crm.change_segment")


GROUPS: list[tuple[Promise, str, list[Entry]]] = [
    (
        _("Promotions"),
        "campaign",
        [
            (_("Promotions"), "promotions.Promotion", "sell"),
            (
                _("Campaign calendar"),
                _page("admin:promotions_promotion_calendar", _promotion_reader),
                "calendar_month",
            ),
            (
                _("Receipt simulator"),
                _page("admin:promotions_promotion_simulator", _promotion_reader),
                "calculate",
            ),
            (_("Coupon series"), "promotions.CouponSeries", "confirmation_number"),
            (_("Coupons"), "promotions.Coupon", "local_activity"),
            (_("Coupons used"), "promotions.CouponRedemption", "receipt"),
            (_("Prize draws"), "promotions.Draw", "casino"),
            (_("Product sets"), "promotions.ProductSet", "category"),
            (_("Spending rules"), "promotions.SpendRule", "payments"),
            (_("Compatibility groups"), "promotions.CompatibilityGroup", "join_inner"),
            (_("Counters"), "loyalty.Counter", "pin"),
            (_("Back-tests"), "reports.Backtest", "history"),
            (_("Occasions rewarded"), "promotions.TriggerFiring", "cake"),
            (_("Daily job runs"), "promotions.LifecycleRun", "schedule"),
        ],
    ),
    (
        _("Customers"),
        "groups",
        [
            (_("Customers"), "crm.Customer", "person"),
            (_("Segments"), "crm.Segment", "pie_chart"),
            (_("Segment list imports"), "loyalty.SegmentImport", "upload_file"),
            (
                _("Ready segmentations"),
                _page("admin:crm_segment_segmentation", _segment_maker),
                "grid_view",
            ),
            (_("RFM schemes"), "loyalty.RfmScheme", "view_comfy"),
            (_("Possible duplicates"), "crm.DuplicateSuggestion", "join_inner"),
            (_("Tier memberships"), "loyalty.TierMembership", "military_tech"),
            (_("Messages"), "communications.Message", "mail"),
            (_("Customer events"), "loyalty.CustomerEvent", "bolt"),
            (_("Consents"), "crm.Consent", "verified_user"),
            (_("Contact verifications"), "crm.ContactVerification", "mark_email_read"),
            (_("Memorable dates"), "crm.MemorableDate", "event"),
            (_("Profile questions"), "crm.ProfileQuestion", "quiz"),
            (_("Profile answers"), "crm.ProfileAnswer", "question_answer"),
            (_("Family members"), "crm.FamilyMember", "family_restroom"),
            (_("Cars"), "crm.Car", "directions_car"),
            (_("Favourite products"), "loyalty.FavouriteProduct", "favorite"),
        ],
    ),
    (
        _("Cards"),
        "credit_card",
        [
            (_("Cards"), "loyalty.Card", "credit_card"),
            (_("Card batches"), "loyalty.CardBatch", "inventory_2"),
            (_("Card imports"), "loyalty.CardImport", "upload_file"),
            (_("Gift certificates"), "loyalty.GiftCertificate", "redeem"),
            (_("Certificate series"), "loyalty.CertificateSeries", "style"),
            (_("Certificate entries"), "loyalty.CertificateEntry", "list_alt"),
        ],
    ),
    (
        _("Contact centre"),
        "support_agent",
        [
            (_("Operator console"), _page("console:search", _console_user), "support_agent"),
            (_("Adjustments to approve"), _page("console:adjustments", _approver), "approval"),
            (_("Tickets"), "contactcenter.Ticket", "confirmation_number"),
            (_("Manual adjustments"), "contactcenter.Adjustment", "exposure"),
            (_("Queues"), "contactcenter.Queue", "queue"),
            (_("Ticket categories"), "contactcenter.TicketCategory", "label"),
            (_("SLA policies"), "contactcenter.SLAPolicy", "timer"),
            (_("Escalations"), "contactcenter.TicketEscalation", "trending_up"),
            (_("Working calendars"), "contactcenter.WorkingCalendar", "calendar_month"),
            (_("Adjustment policies"), "contactcenter.AdjustmentPolicy", "policy"),
        ],
    ),
    (
        _("Reports"),
        "monitoring",
        [
            (
                _("Contact centre report"),
                _page("reports:contact_centre", _ticket_reader),
                "analytics",
            ),
            (
                _("Segments over time"),
                _page("reports:segments", _segment_reader),
                "stacked_line_chart",
            ),
            (_("Receipts"), "loyalty.Receipt", "receipt_long"),
            (_("Refunds"), "loyalty.Refund", "undo"),
            (_("Ledger entries"), "loyalty.LedgerEntry", "account_balance"),
            (_("Postings"), "loyalty.Posting", "swap_horiz"),
            (_("Accounts"), "loyalty.Account", "account_balance_wallet"),
            (_("Lots"), "loyalty.Lot", "stacks"),
            (_("Holds"), "loyalty.Hold", "lock_clock"),
            (_("Tier changes"), "loyalty.TierChange", "swap_vert"),
            (_("Counter values"), "loyalty.CounterValue", "tag"),
            (_("Thanks"), "loyalty.PeerThanks", "volunteer_activism"),
            (_("Audit trail"), "audit.AuditEvent", "policy"),
        ],
    ),
    (
        _("Settings"),
        "settings",
        [
            (_("Programmes"), "loyalty.Programme", "loyalty"),
            (_("Partners"), "loyalty.Partner", "storefront"),
            (_("Stores"), "loyalty.Store", "store"),
            (_("Terminals"), "loyalty.Terminal", "point_of_sale"),
            (_("Terminal API keys"), "loyalty.TerminalAPIKey", "key"),
            (_("Currencies"), "loyalty.Currency", "toll"),
            (_("Tiers"), "loyalty.Tier", "workspace_premium"),
            (_("Products"), "loyalty.Product", "shopping_basket"),
            (_("Product lists"), "loyalty.ProductList", "checklist"),
            (_("Categories"), "loyalty.Category", "account_tree"),
            (_("Brands"), "loyalty.Brand", "sell"),
            (_("Event types"), "loyalty.EventType", "bolt"),
            (_("Product and store imports"), "loyalty.DataImport", "upload_file"),
            (_("Staff users"), "auth.User", "badge"),
            (_("Roles"), "auth.Group", "group_work"),
            (_("Scheduled jobs"), "django_celery_beat.PeriodicTask", "event_repeat"),
            (_("Crontab schedules"), "django_celery_beat.CrontabSchedule", "schedule"),
            (_("Interval schedules"), "django_celery_beat.IntervalSchedule", "timelapse"),
            (_("Clocked schedules"), "django_celery_beat.ClockedSchedule", "alarm"),
            (_("Solar schedules"), "django_celery_beat.SolarSchedule", "wb_sunny"),
        ],
    ),
]


def _model_admins() -> dict[str, admin.ModelAdmin]:
    return {model._meta.label: model_admin for model, model_admin in admin.site._registry.items()}


def navigation(request: HttpRequest) -> list[dict]:
    """The sidebar: each group with the entries this user may open (empty groups dropped)."""
    admins = _model_admins()
    groups = []
    for title, icon, entries in GROUPS:
        items = []
        for label, target, item_icon in entries:
            link = _link(request, target, admins)
            if link is not None:
                items.append({"title": label, "icon": item_icon, "link": link})
        if items:
            groups.append({"title": title, "icon": icon, "collapsible": True, "items": items})
    return groups


def _link(request: HttpRequest, target, admins) -> str | None:
    """The URL of ``target`` when ``request.user`` may open it, else None."""
    if isinstance(target, tuple):
        url_name, allowed = target
        return reverse(url_name) if allowed(request.user) else None
    model_admin = admins.get(target)
    if model_admin is None or not model_admin.has_view_or_change_permission(request):
        return None
    opts = model_admin.model._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:  # pragma: no cover - every registered admin has a changelist
        return None


def show_all_applications(request: HttpRequest) -> bool:
    """The list of every model by app, below the navigation: for the coalition's
    administrators (a model the navigation does not name yet is reachable there)."""
    return request.user.is_superuser


def styles(request: HttpRequest) -> str:
    return static("loyalty/admin.css")


# --- The home page -------------------------------------------------------------------------


def home(request: HttpRequest, context: dict) -> dict:
    """The role-aware home page's context (``templates/admin/index.html`` draws it)."""
    user = request.user
    now = timezone.now()
    partner_id = staff_partner_id(user)
    context["home_partner"] = (
        Partner.objects.filter(pk=partner_id).first() if partner_id is not None else None
    )
    if user.has_perm("promotions.view_promotion"):
        context["home_promotions"] = _marketing(request, now)
    if _console_user(user):
        context["home_console"] = {
            "search_url": reverse("console:search"),
            "tickets": list(
                Ticket.objects.filter(assignee=user)
                .exclude(status=Ticket.Status.CLOSED)
                .select_related("customer")
                .order_by(F("resolution_due").asc(nulls_last=True), "created_at")[:10]
            ),
            "approvals_url": reverse("console:adjustments") if _approver(user) else None,
        }
    imports = []
    admins = _model_admins()
    for model in (CardImport, DataImport, SegmentImport):
        model_admin = admins.get(model._meta.label)
        if model_admin is not None and model_admin.has_view_permission(request):
            name = f"admin:{model._meta.app_label}_{model._meta.model_name}_change"
            imports.extend(
                (job, reverse(name, args=[job.pk]))
                for job in model_admin.get_queryset(request).order_by("-pk")[:5]
            )
    if imports:
        imports.sort(key=lambda item: item[0].created_at, reverse=True)
        context["home_imports"] = imports[:8]
    return context


def _marketing(request: HttpRequest, now) -> dict:
    model_admin = _model_admins()["promotions.Promotion"]
    promotions = model_admin.get_queryset(request).select_related("partner")
    running = list(promotions.active(now).order_by("ends_at", "name")[:12])
    figures = promotion_figures([p.pk for p in running])
    week = now + timedelta(days=7)
    return {
        "running": [(promotion, figures.get(promotion.pk)) for promotion in running],
        "running_count": promotions.active(now).count(),
        "drafts": list(promotions.filter(status=Promotion.Status.DRAFT).order_by("-pk")[:8]),
        "ending": list(promotions.active(now).filter(ends_at__lte=week).order_by("ends_at")[:8]),
        "add_url": reverse("admin:promotions_promotion_add")
        if model_admin.has_add_permission(request)
        else None,
    }
