"""Manual adjustments: asked for in the operator console, listed and approved here; the
thresholds above which they need approval."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from contactcenter.models import Adjustment, AdjustmentPolicy
from loyalty.errors import LoyaltyError


@admin.register(AdjustmentPolicy)
class AdjustmentPolicyAdmin(ModelAdmin):
    list_display = ["currency", "approval_threshold"]
    autocomplete_fields = ["currency"]


@admin.register(Adjustment)
class AdjustmentAdmin(ModelAdmin):
    """Adjustments are asked for in the operator console; here they are listed and approved."""

    list_display = [
        "requested_at",
        "customer",
        "signed_amount",
        "status",
        "reason",
        "ticket",
        "requested_by",
        "decided_by",
        "notify",
    ]
    list_filter = ["status", "currency", "requested_at"]
    list_select_related = ["customer", "currency", "ticket", "requested_by", "decided_by"]
    search_fields = ["customer__public_id", "customer__last_name", "ticket__number", "reason"]
    date_hierarchy = "requested_at"
    actions = ["approve"]
    readonly_fields = [
        "customer",
        "currency",
        "amount",
        "reason",
        "ticket",
        "notify",
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "posting",
    ]

    def has_add_permission(self, request):
        return False  # through the console: it checks the ticket, the points and the threshold

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return request.user.has_perm("contactcenter.approve_adjustment")

    @admin.display(description=_("amount"), ordering="amount")
    def signed_amount(self, obj):
        sign = "+" if obj.amount > 0 else ""
        return f"{sign}{obj.amount.normalize():f} {obj.currency.code}"

    @admin.action(
        description=_("Approve and post the selected adjustments"), permissions=["approve"]
    )
    def approve(self, request, queryset):
        from contactcenter.adjustments import adjustment_approve

        done = 0
        for adjustment in queryset.filter(status=Adjustment.Status.PENDING).order_by("pk"):
            try:
                adjustment_approve(adjustment=adjustment, user=request.user)
            except LoyaltyError as exc:
                self.message_user(request, f"{adjustment}: {exc}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                _("%(count)d adjustment(s) approved and posted.") % {"count": done},
                messages.SUCCESS,
            )
