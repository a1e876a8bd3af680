"""The promotion builder: a promotion's six questions as fieldsets, conditions and rewards as
inlines, compatibility groups and product sets beside them."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from promotions.models import CompatibilityGroup, Condition, ProductSet, Promotion, Reward


class ConditionInline(admin.TabularInline):
    model = Condition
    extra = 0
    fields = ["or_group", "kind", "operator", "amount", "quantity", "product_set", "tiers"]
    autocomplete_fields = ["product_set"]


class RewardInline(admin.TabularInline):
    model = Reward
    fk_name = "promotion"
    extra = 0
    fields = [
        "kind",
        "value",
        "product_set",
        "every_n",
        "multiplier_of",
        "currency",
        "activation_delay_days",
        "lifetime_days",
    ]
    autocomplete_fields = ["currency", "product_set", "multiplier_of"]


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "status",
        "priority",
        "group",
        "exclusive",
        "partner",
        "programme",
        "starts_at",
        "ends_at",
    ]
    list_filter = ["status", "programme", "partner", "group", "exclusive"]
    search_fields = ["name", "description"]
    list_select_related = ["partner", "programme", "group"]
    autocomplete_fields = ["partner", "group"]
    filter_horizontal = ["stores", "tiers"]
    inlines = [ConditionInline, RewardInline]
    actions = ["activate", "pause", "finish"]
    fieldsets = [
        (None, {"fields": ["programme", "name", "description", "status"]}),
        (_("Who"), {"fields": ["tiers"]}),
        (_("Where"), {"fields": ["partner", "stores", "channels"]}),
        (_("When"), {"fields": ["starts_at", "ends_at", "weekdays", "time_from", "time_to"]}),
        (_("Priority and compatibility"), {"fields": ["priority", "group", "exclusive"]}),
        (_("How to tell the customer"), {"fields": ["cashier_message"]}),
    ]

    def _set_status(self, request, queryset, status):
        changed = 0
        for promotion in queryset:
            if promotion.status != status:
                promotion.status = status
                promotion.save(update_fields=["status", "updated_at"])
                changed += 1
        self.message_user(
            request,
            ngettext("%(count)d promotion changed.", "%(count)d promotions changed.", changed)
            % {"count": changed},
            messages.SUCCESS,
        )

    @admin.action(description=_("Activate the selected promotions"), permissions=["change"])
    def activate(self, request, queryset):
        self._set_status(request, queryset, Promotion.Status.ACTIVE)

    @admin.action(description=_("Pause the selected promotions"), permissions=["change"])
    def pause(self, request, queryset):
        self._set_status(request, queryset, Promotion.Status.PAUSED)

    @admin.action(description=_("Finish the selected promotions"), permissions=["change"])
    def finish(self, request, queryset):
        self._set_status(request, queryset, Promotion.Status.FINISHED)


@admin.register(CompatibilityGroup)
class CompatibilityGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "mode", "programme"]
    list_filter = ["mode", "programme"]
    search_fields = ["name"]


@admin.register(ProductSet)
class ProductSetAdmin(admin.ModelAdmin):
    list_display = ["name", "programme", "partner"]
    list_filter = ["programme", "partner"]
    search_fields = ["name"]
    autocomplete_fields = ["partner"]
    filter_horizontal = [
        "products",
        "categories",
        "brands",
        "lists",
        "excluded_products",
        "excluded_categories",
    ]
