"""Promotions started by an occasion: the occasions rewarded and the daily job's runs,
read-only."""

from django.contrib import admin
from unfold.admin import ModelAdmin

from loyalty.admin import ReadOnlyAdminMixin
from promotions.models import LifecycleRun, TriggerFiring


@admin.register(TriggerFiring)
class TriggerFiringAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """What promotions started by an occasion gave, and to whom (read-only)."""

    list_display = ["fired_at", "promotion", "customer", "key", "given", "occurred_at"]
    list_filter = [("promotion", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["key", "customer__phone", "customer__public_id", "promotion__name"]
    list_select_related = ["promotion", "customer"]
    date_hierarchy = "fired_at"
    readonly_fields = [f.name for f in TriggerFiring._meta.fields]


@admin.register(LifecycleRun)
class LifecycleRunAdmin(ModelAdmin):
    """The days the daily date job has finished (the next run starts after the last)."""

    list_display = ["job", "day", "finished_at", "rewarded"]
    list_filter = ["job"]
    readonly_fields = ["job", "day", "finished_at", "rewarded"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
