"""Staff users with their partner, and the audit trail."""

from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline

from audit.models import AuditEvent
from audit.trail import files_by_pk as audit_files_by_pk
from loyalty.admin.mixins import ReadOnlyAdminMixin
from loyalty.models import StaffProfile

User = get_user_model()

# Django's user admin, with the staff profile on the same page.
admin.site.unregister(User)


class StaffProfileInline(StackedInline):
    """The partner a staff user works for: partner staff see only that partner's objects."""

    model = StaffProfile
    can_delete = False
    fields = ["partner", "customer"]
    autocomplete_fields = ["partner", "customer"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [*DjangoUserAdmin.inlines, StaffProfileInline]
    list_display = [*DjangoUserAdmin.list_display, "staff_partner"]
    list_select_related = ["staff_profile__partner"]

    @admin.display(description=_("works for"), ordering="staff_profile__partner__name")
    def staff_partner(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.partner if profile is not None else None


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """The auditor's browse of the trail: read-only for everyone, superusers included (the
    rows are append-only, and a database trigger refuses changes anyway)."""

    list_display = [
        "at",
        "username",
        "address",
        "source",
        "action",
        "content_type",
        "object_link",
    ]
    list_filter = [
        "action",
        "source",
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
        "at",
    ]
    search_fields = ["object_repr", "username", "address", "=object_id", "note"]
    list_select_related = ["content_type"]
    date_hierarchy = "at"
    actions = None
    fields = [
        "at",
        "user",
        "username",
        "address",
        "source",
        "action",
        "content_type",
        "object_id",
        "object_link",
        "note",
        "changes_table",
    ]
    readonly_fields = fields

    @admin.display(description=_("object"), ordering="object_repr")
    def object_link(self, event):
        model = event.content_type.model_class() if event.content_type_id else None
        if model is None or not event.object_id or not audit_files_by_pk(model):
            return event.object_repr
        try:
            url = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change",
                args=[event.object_id],
            )
        except NoReverseMatch:
            return event.object_repr
        return format_html('<a href="{}">{}</a>', url, event.object_repr)

    @admin.display(description=_("before and after"))
    def changes_table(self, event):
        keys = list(dict.fromkeys([*event.before, *event.after]))
        if not keys:
            return "—"
        model = event.content_type.model_class() if event.content_type_id else None
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (
                    _field_label(model, key),
                    _shown(event.before.get(key, "")),
                    _shown(event.after.get(key, "")),
                )
                for key in keys
            ),
        )
        return format_html(
            '<table class="audit-changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            _("field"),
            _("before"),
            _("after"),
            rows,
        )


def _field_label(model, key: str) -> str:
    """A stored key (an attname such as ``store_id``) as the field's verbose name."""
    if model is not None:
        for field in model._meta.concrete_fields + model._meta.many_to_many:
            if key in (field.name, field.attname):
                return f"{field.verbose_name} ({key})"
    return key


def _shown(value) -> str:
    if value is None:
        return "∅"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
