"""The campaign calendar: promotions on a timeline, by partner and status, with the pairs that
can meet on one receipt (``promotions.overlaps``) and how they get along."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from promotions.models import Promotion
from promotions.overlaps import Meeting, meeting_queryset, meetings

MONTHS_SHOWN = 3


class CalendarForm(forms.Form):
    start = forms.DateField(
        label=gettext_lazy("from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("The first day shown. Empty: the first of this month."),
    )
    months = forms.IntegerField(
        label=gettext_lazy("months"), required=False, min_value=1, max_value=12
    )
    status = forms.MultipleChoiceField(
        label=gettext_lazy("status"),
        choices=Promotion.Status.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: drafts, active and paused."),
    )


@dataclass
class Bar:
    promotion: Promotion
    left: float  # percent of the window
    width: float
    open_start: bool
    open_end: bool
    meetings: list[Meeting] = field(default_factory=list)

    @property
    def url(self) -> str:
        return reverse("admin:promotions_promotion_change", args=[self.promotion.pk])


@dataclass
class Row:
    partner: str
    bars: list[Bar]


def _window(form: CalendarForm, today: date) -> tuple[date, date]:
    data = form.cleaned_data if form.is_valid() else {}
    start = data.get("start") or today.replace(day=1)
    months = data.get("months") or MONTHS_SHOWN
    month, year = start.month - 1 + months, start.year
    end = date(year + month // 12, month % 12 + 1, 1)
    if start.day != 1:
        end = end.replace(day=min(start.day, 28))
    return start, end


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time()))


def calendar_context(request, queryset) -> dict:
    """Rows of bars per partner for the window asked, the weeks' ticks, and the meetings."""
    form = CalendarForm(request.GET or None)
    today = timezone.localdate()
    start, end = _window(form, today)
    since, until = _aware(start), _aware(end)
    statuses = (form.cleaned_data.get("status") if form.is_valid() else None) or [
        Promotion.Status.DRAFT,
        Promotion.Status.ACTIVE,
        Promotion.Status.PAUSED,
    ]
    promotions = list(
        meeting_queryset(
            queryset.filter(status__in=statuses, starts_at__lt=until)
            .exclude(ends_at__lte=since)
            .order_by("partner__name", "starts_at", "name")
        )
    )
    found = meetings([p for p in promotions if p.status != Promotion.Status.DRAFT])
    by_promotion: dict[int, list[Meeting]] = {}
    for meeting in found:
        by_promotion.setdefault(meeting.first.pk, []).append(meeting)
        by_promotion.setdefault(meeting.second.pk, []).append(meeting)
    span = (until - since).total_seconds()
    rows: dict[str, list[Bar]] = {}
    for promotion in promotions:
        begin = max(promotion.starts_at, since)
        finish = min(promotion.ends_at or until, until)
        left = (begin - since).total_seconds() / span * 100
        width = max((finish - begin).total_seconds() / span * 100, 0.8)
        partner = promotion.partner.name if promotion.partner_id else _("Every partner")
        rows.setdefault(partner, []).append(
            Bar(
                promotion=promotion,
                left=round(left, 3),
                width=round(min(width, 100 - left), 3),
                open_start=promotion.starts_at < since,
                open_end=promotion.ends_at is None or promotion.ends_at > until,
                meetings=by_promotion.get(promotion.pk, []),
            )
        )
    ticks = []
    day = start
    while day < end:
        if day.day == 1 or day == start:
            ticks.append(
                {
                    "left": round((_aware(day) - since).total_seconds() / span * 100, 3),
                    "label": day,
                }
            )
        day += timedelta(days=1)
    today_left = None
    if start <= today < end:
        today_left = round((timezone.now() - since).total_seconds() / span * 100, 3)
    return {
        "form": form,
        "start": start,
        "end": end - timedelta(days=1),
        "rows": [Row(partner, bars) for partner, bars in rows.items()],
        "ticks": ticks,
        "today_left": today_left,
        "meetings": found,
        "statuses": Promotion.Status,
    }


def calendar_view(model_admin, request):
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Campaign calendar"),
        **calendar_context(request, model_admin.get_queryset(request)),
    }
    return TemplateResponse(request, "admin/promotions/promotion/calendar.html", context)
