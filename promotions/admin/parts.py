"""What promotions name, beside the builder: compatibility groups, product sets and spending
rules."""

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from promotions.models import CompatibilityGroup, ProductSet, SpendRule


@admin.register(CompatibilityGroup)
class CompatibilityGroupAdmin(ModelAdmin):
    list_display = ["name", "mode", "programme"]
    list_filter = ["mode", "programme"]
    search_fields = ["name"]


@admin.register(ProductSet)
class ProductSetAdmin(ModelAdmin):
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


UNUSED_RULE = _(
    "No reward names the spending rule “%(name)s”, so it restricts nothing: points are spent "
    "as the programme allows. Choose it in a reward's “points may be spent” field."
)


@admin.register(SpendRule)
class SpendRuleAdmin(ModelAdmin):
    """A rule restricts only the points of the rewards that name it: a rule no reward names does
    nothing, and is flagged in the list and on save. The programme's own spending settings
    (max share paid with points, minimum money payment) apply to every receipt; the page says
    so, with a link."""

    list_display = [
        "name",
        "programme",
        "product_set",
        "min_receipt",
        "max_percent",
        "used_by",
    ]
    list_filter = ["programme"]
    change_form_before_template = "admin/promotions/spendrule/explain.html"
    search_fields = ["name"]
    filter_horizontal = ["stores"]
    fields = [
        "programme",
        "name",
        "product_set",
        "min_receipt",
        "stores",
        "time_from",
        "time_to",
        "max_percent",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(reward_count=Count("rewards"))

    @admin.display(description=_("rewards that use it"), ordering="reward_count")
    def used_by(self, obj):
        count = getattr(obj, "reward_count", None)
        if count is None:
            count = obj.rewards.count()
        if count:
            return count
        return format_html(
            '<span class="spend-rule-unused" title="{}">⚠ {}</span>',
            UNUSED_RULE % {"name": obj.name},
            _("none: does nothing"),
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not form.instance.rewards.exists():
            self.message_user(request, UNUSED_RULE % {"name": form.instance.name}, messages.WARNING)
