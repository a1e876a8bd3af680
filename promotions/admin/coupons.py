"""Coupon series (issue, export the codes, scratch prizes), and the coupons and their uses,
read-only."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from promotions.coupons import NoPrizes, coupons_issue
from promotions.models import Coupon, CouponRedemption, CouponSeries, ScratchPrize


class CouponIssueForm(forms.Form):
    count = forms.IntegerField(label=_("how many"), min_value=1, max_value=100_000)


class ScratchPrizeInline(TabularInline):
    model = ScratchPrize
    extra = 0
    fields = ["promotion", "weight"]
    autocomplete_fields = ["promotion"]


@admin.register(CouponSeries)
class CouponSeriesAdmin(ModelAdmin):
    inlines = [ScratchPrizeInline]
    list_display = ["name", "code", "programme", "partner", "kind", "uses_per_coupon", "is_active"]
    list_filter = ["programme", "kind", "is_active"]
    search_fields = ["name", "code", "mass_code"]
    autocomplete_fields = ["partner"]
    actions = ["issue", "export_codes"]

    @admin.action(description=_("Issue coupons of the selected series"), permissions=["change"])
    def issue(self, request, queryset):
        series = list(queryset.filter(kind=CouponSeries.Kind.PERSONAL))
        for one in queryset.filter(kind=CouponSeries.Kind.MASS):
            code = coupons_issue(one)[0].code  # its one code, valid for everyone
            self.message_user(
                request,
                _("%(series)s: one code for everyone, %(code)s.") % {"series": one, "code": code},
                messages.SUCCESS,
            )
        if not series:
            return None
        form = CouponIssueForm(request.POST if "count" in request.POST else None)
        if form.is_valid():
            for one in series:
                try:
                    coupons_issue(one, form.cleaned_data["count"])
                except NoPrizes:
                    self.message_user(
                        request,
                        _("%(series)s: a scratch series needs its prize table first.")
                        % {"series": one},
                        messages.ERROR,
                    )
                    return None
            self.message_user(
                request,
                _("%(count)s coupons issued in each of %(series)s series.")
                % {"count": form.cleaned_data["count"], "series": len(series)},
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/promotions/couponseries/issue.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Issue coupons"),
                "form": form,
                "series": series,
                "opts": self.model._meta,
                "action": "issue",
            },
        )

    @admin.action(description=_("Export the codes as CSV (for printing)"), permissions=["view"])
    def export_codes(self, request, queryset):
        import io

        from promotions.management.commands.coupons_emit import coupons_csv

        out = io.StringIO()
        coupons_csv(
            Coupon.objects.filter(series__in=queryset).select_related("series").order_by("pk"),
            out,
        )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="coupons.csv"'
        return response


@admin.register(Coupon)
class CouponAdmin(ModelAdmin):
    """Coupons are issued by their series, never typed in; read-only here."""

    list_display = ["code", "series", "customer", "status", "uses", "valid_from", "valid_until"]
    list_filter = ["status", ("series", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["code", "customer__phone", "customer__public_id"]
    list_select_related = ["series", "customer"]
    readonly_fields = [f.name for f in Coupon._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(ModelAdmin):
    """Coupons used on receipts (read-only); a cancel marks them given back."""

    list_display = ["redeemed_at", "coupon", "receipt", "customer", "returned_at"]
    search_fields = ["coupon__code", "customer__phone", "receipt__receipt_id"]
    list_select_related = ["coupon", "receipt", "customer"]
    readonly_fields = [f.name for f in CouponRedemption._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
