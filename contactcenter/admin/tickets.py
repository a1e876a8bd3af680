"""Tickets with their deadlines, comments, attachments, escalations and history.

Every change to a ticket that matters (opening, status, assignment, category or priority,
comments) goes through ``contactcenter.services``; the form saves only the plain fields.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline, TabularInline

from contactcenter import services
from contactcenter.errors import TicketError
from contactcenter.masking import mask, ticket_contacts_unmasked_expression
from contactcenter.models import (
    Ticket,
    TicketAttachment,
    TicketComment,
    TicketEscalation,
    TicketEvent,
)
from loyalty.admin import ReadOnlyAdminMixin
from loyalty.money import plain

OVERDUE_STYLE = "color:#ba2121;font-weight:bold"
SOON_STYLE = "color:#b36b00;font-weight:bold"
PAUSED_STYLE = "color:#666"


class SLAFilter(admin.SimpleListFilter):
    title = _("SLA")
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [
            ("overdue", _("Overdue")),
            ("soon", _("Due within the escalation margin")),
            ("escalated", _("Escalated")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(pk__in=services.tickets_overdue(now).values("pk"))
        if self.value() == "soon":
            horizon = now + timedelta(minutes=settings.TICKETS_ESCALATION_MARGIN_MINUTES)
            return queryset.filter(status__in=Ticket.OPEN_STATUSES).filter(
                Q(first_responded_at__isnull=True, first_response_due__range=(now, horizon))
                | Q(resolution_due__range=(now, horizon))
            )
        if self.value() == "escalated":
            return queryset.filter(escalation_level__gt=0)
        return queryset


class TicketCommentInline(StackedInline):
    """Existing comments are read-only; a new one is added through ``ticket_comment``."""

    model = TicketComment
    extra = 0
    fields = ["body", "is_internal", "author_kind", "author", "created_at"]
    readonly_fields = ["author_kind", "author", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TicketAttachmentInline(TabularInline):
    model = TicketAttachment
    extra = 0
    fields = ["file", "name", "content_type", "size", "uploaded_at"]
    readonly_fields = ["content_type", "size", "uploaded_at"]

    def has_change_permission(self, request, obj=None):
        return False


class TicketEventInline(ReadOnlyAdminMixin, TabularInline):
    model = TicketEvent
    extra = 0
    fields = ["created_at", "kind", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    verbose_name_plural = _("history")


class TicketEscalationInline(ReadOnlyAdminMixin, TabularInline):
    model = TicketEscalation
    extra = 0
    fields = ["created_at", "deadline_kind", "due_at", "level", "is_breached", "notified"]
    readonly_fields = fields


def contacts_masked(obj) -> bool:
    """Whether a saved row read through a masking admin's queryset (annotated with
    ``contacts_unmasked``) shows its contacts masked."""
    return obj is not None and obj.pk is not None and not getattr(obj, "contacts_unmasked", True)


def fields_swapped(fieldsets, swap: dict[str, str]) -> list:
    """``fieldsets`` with each field named in ``swap`` replaced (in rows of fields too)."""

    def swapped(entry):
        if isinstance(entry, tuple | list):
            return tuple(swap.get(name, name) for name in entry)
        return swap.get(entry, entry)

    return [
        (title, {**options, "fields": [swapped(f) for f in options["fields"]]})
        for title, options in fieldsets
    ]


class TicketForm(forms.ModelForm):
    move_to = forms.ChoiceField(
        label=_("change status to"),
        required=False,
        help_text=_("Only the moves the workflow allows are carried out."),
    )
    note = forms.CharField(label=_("note on the change"), required=False, max_length=500)

    class Meta:
        model = Ticket
        fields = [
            "channel",
            "category",
            "priority",
            "subject",
            "body",
            "customer",
            "card",
            "receipt",
            "contact_email",
            "contact_phone",
            "queue",
            "assignee",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.status if self.instance.pk else None
        allowed = services.ALLOWED_TRANSITIONS.get(current, frozenset()) if current else ()
        self.fields["move_to"].choices = [("", "—")] + [
            (value, label) for value, label in Ticket.Status.choices if value in allowed
        ]
        if not self.instance.pk:
            del self.fields["move_to"]
            del self.fields["note"]


def _deadline(ticket: Ticket, due, *, met_at=None, paused: bool = False):
    if due is None:
        return "—"
    text = timezone.localtime(due).strftime("%Y-%m-%d %H:%M")
    now = timezone.now()
    if met_at is not None:
        style = OVERDUE_STYLE if met_at > due else ""
        return format_html('<span style="{}">{} ✓</span>', style, text)
    if paused:
        return format_html(
            '<span style="{}">{} ({})</span>',
            PAUSED_STYLE,
            text,
            _("clock stopped: waiting for the customer"),
        )
    if not ticket.is_open:
        return text
    if now > due:
        return format_html('<span style="{}">{} ({})</span>', OVERDUE_STYLE, text, _("overdue"))
    if due - now <= timedelta(minutes=settings.TICKETS_ESCALATION_MARGIN_MINUTES):
        return format_html('<span style="{}">{}</span>', SOON_STYLE, text)
    return text


@admin.register(Ticket)
class TicketAdmin(ModelAdmin):
    form = TicketForm
    list_display = [
        "number",
        "subject",
        "status",
        "priority",
        "category",
        "queue",
        "assignee",
        "customer",
        "first_response_deadline",
        "resolution_deadline",
        "created_at",
    ]
    list_display_links = ["number", "subject"]
    list_filter = [
        SLAFilter,
        "status",
        "category",
        "priority",
        "queue",
        ("assignee", admin.RelatedOnlyFieldListFilter),
        "channel",
    ]
    search_fields = [
        "=number",
        "subject",
        "customer__phone",
        "customer__email",
        "contact_email",
        "contact_phone",
        "card__number",
    ]
    list_select_related = ["category", "queue", "assignee", "customer"]
    autocomplete_fields = ["customer", "card", "receipt", "assignee"]
    date_hierarchy = "created_at"
    inlines = [
        TicketCommentInline,
        TicketAttachmentInline,
        TicketEscalationInline,
        TicketEventInline,
    ]
    readonly_fields = [
        "number",
        "status",
        "first_response_deadline",
        "resolution_deadline",
        "created_at",
        "first_responded_at",
        "resolved_at",
        "closed_at",
        "paused_at",
        "sla_policy",
        "escalation_level",
        "escalated_at",
        "terminal",
        "request_id",
        "adjustment_links",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("number", "status"),
                    ("move_to", "note"),
                    "channel",
                    ("category", "priority"),
                    "subject",
                    "body",
                ]
            },
        ),
        (
            _("Customer"),
            {
                "fields": [
                    "customer",
                    "card",
                    "receipt",
                    ("contact_email", "contact_phone"),
                    "adjustment_links",
                ]
            },
        ),
        (_("Work"), {"fields": [("queue", "assignee")]}),
        (
            _("Service level"),
            {
                "fields": [
                    "sla_policy",
                    ("first_response_deadline", "first_responded_at"),
                    ("resolution_deadline", "resolved_at"),
                    ("paused_at", "closed_at"),
                    ("escalation_level", "escalated_at"),
                ]
            },
        ),
        (_("Source"), {"fields": [("terminal", "request_id")], "classes": ["collapse"]}),
    ]
    actions = ["assign_to_me", "mark_resolved", "mark_closed"]

    # The ticket's contact email and phone are masked, as the customer's are, for users who
    # may not see contacts unless they work on this ticket or another open one of its customer.

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(contacts_unmasked=ticket_contacts_unmasked_expression(request.user))
        )

    def _masked(self, obj) -> bool:
        return contacts_masked(obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = self._fieldsets_of(obj)
        if not self._masked(obj):
            return fieldsets
        return fields_swapped(
            fieldsets, {"contact_email": "masked_email", "contact_phone": "masked_phone"}
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if self._masked(obj):
            # never in the form: a masked value is not posted back over the stored one
            fields += ["masked_email", "masked_phone"]
        return fields

    @admin.display(description=_("contact email"))
    def masked_email(self, obj):
        return mask("email", obj.contact_email) or "—"

    @admin.display(description=_("contact phone"))
    def masked_phone(self, obj):
        return mask("phone", obj.contact_phone) or "—"

    @admin.display(description=_("manual adjustments"))
    def adjustment_links(self, obj):
        from django.urls import reverse
        from django.utils.html import format_html_join

        if obj is None or obj.pk is None:
            return "—"
        rows = obj.adjustments.select_related("currency").order_by("requested_at", "pk")
        links = format_html_join(
            ", ",
            '<a href="{}">{}{} {} ({})</a>',
            (
                (
                    reverse("admin:contactcenter_adjustment_change", args=[a.pk]),
                    "+" if a.amount > 0 else "",
                    plain(a.amount),
                    a.currency.code,
                    a.get_status_display(),
                )
                for a in rows
            ),
        )
        if obj.customer_id is None:
            return links or "—"
        console = reverse("console:customer", args=[obj.customer_id])
        return format_html(
            '{} <a href="{}">{}</a>', links or "—", console, _("open in the operator console")
        )

    def _fieldsets_of(self, obj):
        if obj is None:
            fieldsets = [list(item) for item in self.fieldsets]
            main = dict(fieldsets[0][1])
            main["fields"] = [
                f for f in main["fields"] if f not in (("number", "status"), ("move_to", "note"))
            ]
            return [(None, main), *self.fieldsets[1:3]]
        return self.fieldsets

    @admin.display(description=_("first response due"), ordering="first_response_due")
    def first_response_deadline(self, obj):
        return _deadline(obj, obj.first_response_due, met_at=obj.first_responded_at)

    @admin.display(description=_("resolution due"), ordering="resolution_due")
    def resolution_deadline(self, obj):
        return _deadline(
            obj,
            obj.resolution_due,
            met_at=obj.resolved_at,
            paused=obj.status == Ticket.Status.WAITING,
        )

    # --- Saving through the services --------------------------------------------------------

    PLAIN_FIELDS = (
        "channel",
        "subject",
        "body",
        "customer",
        "card",
        "receipt",
        "contact_email",
        "contact_phone",
        "queue",
    )

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            ticket = services.ticket_open(
                channel=data["channel"],
                category=data["category"],
                priority=data["priority"],
                subject=data["subject"],
                body=data.get("body") or "",
                customer=data.get("customer"),
                card=data.get("card"),
                receipt=data.get("receipt"),
                contact_email=data.get("contact_email") or "",
                contact_phone=data.get("contact_phone") or "",
                queue=data.get("queue"),
                assignee=data.get("assignee"),
                actor=request.user,
            )
            obj.pk = ticket.pk
            obj._state.adding = False
            obj.refresh_from_db()
            return
        plain = [name for name in self.PLAIN_FIELDS if name in form.changed_data]
        if plain:
            obj.save(update_fields=[*plain, "updated_at"])
        if "category" in form.changed_data or "priority" in form.changed_data:
            services.ticket_reclassify(
                obj, category=data["category"], priority=data["priority"], actor=request.user
            )
        if "assignee" in form.changed_data:
            services.ticket_assign(obj, data.get("assignee"), actor=request.user)
        if data.get("move_to"):
            try:
                services.ticket_transition(
                    obj, data["move_to"], actor=request.user, note=data.get("note") or ""
                )
            except TicketError as exc:
                self.message_user(request, str(exc.detail), messages.ERROR)

    def save_formset(self, request, form, formset, change):
        if formset.model is TicketComment:
            # The admin's change message reads these three lists.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            for comment_form in formset.extra_forms:
                if comment_form.has_changed() and comment_form.cleaned_data.get("body"):
                    comment = services.ticket_comment(
                        form.instance,
                        body=comment_form.cleaned_data["body"],
                        author=request.user,
                        is_internal=comment_form.cleaned_data.get("is_internal", False),
                    )
                    formset.new_objects.append(comment)
            return
        if formset.model is TicketAttachment:
            for attachment in formset.save(commit=False):
                upload = attachment.file.file if attachment.file else None
                attachment.content_type = getattr(upload, "content_type", "") or ""
                attachment.save()
            return
        super().save_formset(request, form, formset, change)

    # --- Actions ---------------------------------------------------------------------------

    @admin.action(description=_("Assign to me"), permissions=["change"])
    def assign_to_me(self, request, queryset):
        for ticket in queryset:
            services.ticket_assign(ticket, request.user, actor=request.user)
        self.message_user(
            request, _("%(count)s tickets assigned to you.") % {"count": queryset.count()}
        )

    def _move_selected(self, request, queryset, to_status: str) -> None:
        moved, refused = 0, []
        for ticket in queryset:
            try:
                services.ticket_transition(ticket, to_status, actor=request.user)
                moved += 1
            except TicketError:
                refused.append(f"#{ticket.number}")
        if moved:
            self.message_user(
                request,
                _("%(count)s tickets moved to “%(status)s”.")
                % {"count": moved, "status": Ticket.Status(to_status).label},
            )
        if refused:
            self.message_user(
                request,
                _("These tickets cannot move to “%(status)s”: %(numbers)s.")
                % {"status": Ticket.Status(to_status).label, "numbers": ", ".join(refused)},
                messages.WARNING,
            )

    @admin.action(description=_("Resolve the selected tickets"), permissions=["change"])
    def mark_resolved(self, request, queryset):
        self._move_selected(request, queryset, Ticket.Status.RESOLVED)

    @admin.action(description=_("Close the selected tickets"), permissions=["change"])
    def mark_closed(self, request, queryset):
        self._move_selected(request, queryset, Ticket.Status.CLOSED)


@admin.register(TicketEscalation)
class TicketEscalationAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ["ticket", "deadline_kind", "due_at", "level", "is_breached", "created_at"]
    list_filter = ["deadline_kind", "is_breached"]
    search_fields = ["=ticket__number"]
    list_select_related = ["ticket"]
