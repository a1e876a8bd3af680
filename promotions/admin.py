from django.contrib import admin

from promotions.models import Promotion, Reward


class RewardInline(admin.TabularInline):
    model = Reward
    extra = 0
    autocomplete_fields = ["currency"]


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "priority", "partner", "programme", "starts_at", "ends_at"]
    list_filter = ["status", "programme", "partner"]
    search_fields = ["name", "description"]
    list_select_related = ["partner", "programme"]
    autocomplete_fields = ["partner"]
    inlines = [RewardInline]
