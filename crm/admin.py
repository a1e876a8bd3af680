"""The customer base in the admin. Saving customers and consents goes through ``crm.services``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline

from crm.admin_verification import CustomerVerificationMixin
from crm.errors import CrmError
from crm.forms import (
    ConsentAdminForm,
    CustomerAdminForm,
    ProfileQuestionAdminForm,
    question_field_name,
)
from crm.models import (
    Car,
    Consent,
    Customer,
    FamilyMember,
    MemorableDate,
    ProfileAnswer,
    ProfileQuestion,
    ProfileQuestionChoice,
    Segment,
    SegmentMember,
)
from crm.phones import mask_phone
from crm.segment_builder import SegmentBuilderAdmin
from crm.selectors import phone_parse, profile_question_list_active
from crm.services import consent_set, customer_create, customer_update, profile_answers_set
from crm.services.anonymisation import customer_anonymise
from crm.services.customers import EDITABLE_FIELDS

# What customer_create takes; the other editable fields are set by customer_update after it.
CREATE_FIELDS = {
    "phone",
    "email",
    "first_name",
    "middle_name",
    "last_name",
    "birth_date",
    "gender",
    "source",
    "source_detail",
    "registered_at",
}


def _copy_saved(target, saved) -> None:
    """Make the admin's unsaved ``target`` the row a service saved, for inlines and the log."""
    for field in type(saved)._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


class SegmentFilter(admin.SimpleListFilter):
    """The rows of the customers in a segment, rule or static (its member rows).

    ``customer_path`` leads from the listed model to the customer's id; ``segments(request)``
    are the segments offered, and the only ones a URL may name (an app above crm narrows them
    to what the user may see)."""

    title = _("segment")
    parameter_name = "segment"
    customer_path = "pk"

    def segments(self, request):
        if not request.user.has_perm("crm.view_segment"):
            return Segment.objects.none()
        return Segment.objects.all()

    def lookups(self, request, model_admin):
        return [
            (str(pk), name)
            for pk, name in self.segments(request).order_by("name", "pk").values_list("pk", "name")
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit() or not self.segments(request).filter(pk=value).exists():
            return queryset.none()
        members = SegmentMember.objects.filter(segment_id=value).values("customer_id")
        return queryset.filter(**{f"{self.customer_path}__in": members})


class ConsentInlineForm(forms.ModelForm):
    class Meta:
        model = Consent
        fields = ["channel", "is_granted", "source", "text_version"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A consent belongs to its channel; another channel is another consent row.
            self.fields["channel"].disabled = True


class ConsentInline(TabularInline):
    model = Consent
    form = ConsentInlineForm
    extra = 0
    can_delete = False  # withdraw a consent instead: its history is the proof
    fields = ["channel", "is_granted", "granted_at", "revoked_at", "source", "text_version"]
    readonly_fields = ["granted_at", "revoked_at"]


class FamilyMemberInline(TabularInline):
    model = FamilyMember
    extra = 0


class CarInline(TabularInline):
    model = Car
    extra = 0


class MemorableDateInline(TabularInline):
    model = MemorableDate
    extra = 0


class CustomerAnonymiseForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Whose request this is and how it was received. The names, phone, email, birth "
            "date, questionnaire answers, family, cars and dates are erased; consents are "
            "revoked; cards are blocked; points, receipts and tickets stay. This cannot be "
            "undone."
        ),
    )


@admin.register(Customer)
class CustomerAdmin(CustomerVerificationMixin, ModelAdmin):
    form = CustomerAdminForm
    list_display = [
        "public_id",
        "full_name",
        "masked_phone",
        "email",
        "registered_at",
        "source",
        "referrer",
    ]
    list_filter = [
        "source",
        "gender",
        "phone_verified",
        "email_verified",
        "is_anonymised",
        "registered_at",
        SegmentFilter,
    ]
    search_fields = [
        "phone",
        "email",
        "last_name",
        "first_name",
        "middle_name",
        "public_id",
        "referral_code",
    ]
    list_select_related = ["referrer"]
    autocomplete_fields = ["referrer"]
    readonly_fields = [
        "public_id",
        "points_history",
        "phone_status",
        "email_status",
        "created_at",
        "updated_at",
        "is_anonymised",
        "anonymised_at",
        "merged_into",
        "merged_at",
    ]
    date_hierarchy = "registered_at"
    inlines = [ConsentInline, FamilyMemberInline, CarInline, MemorableDateInline]
    actions = ["anonymise"]

    def has_anonymise_permission(self, request, obj=None):
        return request.user.has_perm("crm.anonymise_customer")

    @admin.action(description=_("Anonymise on request…"), permissions=["anonymise"])
    def anonymise(self, request, queryset):
        customers = list(queryset.order_by("pk"))
        return self._anonymise(request, customers, action="anonymise")

    def anonymise_view(self, request, object_id):
        """The "Anonymise" button of one customer's page: 403 without the permission."""
        if not self.has_anonymise_permission(request):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=object_id)
        response = self._anonymise(request, [customer])
        if response is None:
            return redirect("admin:crm_customer_change", customer.pk)
        return response

    def _anonymise(self, request, customers, action=None):
        """The confirmation page with its required reason, then ``customer_anonymise`` for
        each customer; None once done (the caller redirects)."""
        if not self.has_anonymise_permission(request):
            raise PermissionDenied
        form = CustomerAnonymiseForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            done = 0
            for customer in customers:
                try:
                    customer_anonymise(
                        customer=customer, user=request.user, reason=form.cleaned_data["reason"]
                    )
                except CrmError as exc:
                    self.message_user(request, f"{customer.public_id}: {exc}", messages.WARNING)
                else:
                    done += 1
            if done:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d customer anonymised: the profile is erased, the cards are "
                        "blocked, points and receipts stay.",
                        "%(count)d customers anonymised: the profiles are erased, the cards "
                        "are blocked, points and receipts stay.",
                        done,
                    )
                    % {"count": done},
                    messages.SUCCESS,
                )
            return None
        return TemplateResponse(
            request,
            "admin/crm/customer/anonymise.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Anonymise customers on request"),
                "form": form,
                "customers": customers,
                "action": action,
                "opts": self.model._meta,
            },
        )

    base_fieldsets = [
        (
            None,
            {
                "fields": [
                    "public_id",
                    "points_history",
                    "last_name",
                    "first_name",
                    "middle_name",
                    "gender",
                    "birth_date",
                ]
            },
        ),
        (_("Contacts"), {"fields": ["phone", "phone_status", "email", "email_status"]}),
        (
            _("Registration"),
            {"fields": ["registered_at", "source", "source_detail", "referral_code", "referrer"]},
        ),
        (
            _("Record"),
            {
                "fields": [
                    "comment",
                    "created_at",
                    "updated_at",
                    "is_anonymised",
                    "anonymised_at",
                    "merged_into",
                    "merged_at",
                ]
            },
        ),
    ]

    def _questions(self, request) -> list[ProfileQuestion]:
        # Read once per request: the fieldsets and the form must ask the same questions.
        if not hasattr(request, "_crm_profile_questions"):
            request._crm_profile_questions = profile_question_list_active()
        return request._crm_profile_questions

    def get_fieldsets(self, request, obj=None):
        questions = [question_field_name(q) for q in self._questions(request)]
        if not questions:
            return self.base_fieldsets
        return [
            *self.base_fieldsets[:3],
            (_("Questionnaire"), {"fields": questions}),
            *self.base_fieldsets[3:],
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The questionnaire's fields are declared on a form class made for this request, so a
        # question added in the admin shows up on the next page load, without code changes.
        kwargs["form"] = self.form.with_questionnaire(self._questions(request))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_urls(self):
        from django.urls import path

        return [
            path(
                "<path:object_id>/anonymise/",
                self.admin_site.admin_view(self.anonymise_view),
                name="crm_customer_anonymise",
            ),
            *self.verification_urls(),
            *super().get_urls(),
        ]

    @admin.display(description=_("points"))
    def points_history(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        from django.urls import reverse
        from django.utils.html import format_html

        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:crm_customer_points", args=[obj.pk]),
            _("balances, receipts and ledger entries"),
        )

    @admin.display(description=_("name"), ordering="last_name")
    def full_name(self, obj):
        return obj.full_name or "—"

    @admin.display(description=_("phone"), ordering="phone")
    def masked_phone(self, obj):
        return mask_phone(obj.phone) if obj.phone else "—"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # "8 900 123-45-67" is stored as "+79001234567": a text match alone would miss it.
        phone = phone_parse(search_term)
        if phone is None:
            return results, may_have_duplicates
        return results | queryset.filter(phone=phone), may_have_duplicates

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {name: data[name] for name in EDITABLE_FIELDS if name in data}
        if change:
            # ``obj`` already holds the form's values, so customer_update would see no change:
            # give it the stored row, locked against a concurrent edit.
            stored = Customer.objects.select_for_update().get(pk=obj.pk)
            _copy_saved(obj, customer_update(customer=stored, **fields))
        else:
            identity = {name: fields.pop(name) for name in list(fields) if name in CREATE_FIELDS}
            if fields.get("referral_code") is None:
                fields.pop("referral_code", None)  # left blank: keep the generated one
            customer = customer_create(**identity)
            customer = customer_update(customer=customer, **fields)
            _copy_saved(obj, customer)
        profile_answers_set(customer=obj, answers=form.questionnaire_answers())

    def save_formset(self, request, form, formset, change):
        if formset.model is not Consent:
            super().save_formset(request, form, formset, change)
            return
        # Consents go through consent_set, which keeps granted_at / revoked_at right.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if not inline_form.has_changed() or not inline_form.cleaned_data:
                continue
            data = inline_form.cleaned_data
            is_new = inline_form.instance.pk is None
            consent = consent_set(
                customer=form.instance,
                channel=inline_form.instance.channel if not is_new else data["channel"],
                is_granted=data["is_granted"],
                source=data.get("source", ""),
                text_version=data.get("text_version", ""),
            )
            if is_new:
                formset.new_objects.append(consent)
            else:
                formset.changed_objects.append((consent, inline_form.changed_data))


@admin.register(Consent)
class ConsentAdmin(ModelAdmin):
    form = ConsentAdminForm
    list_display = ["customer", "channel", "is_granted", "granted_at", "revoked_at", "source"]
    list_filter = ["channel", "is_granted", "granted_at", "revoked_at"]
    search_fields = ["customer__phone", "customer__last_name", "customer__public_id"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    fields = [
        "customer",
        "channel",
        "is_granted",
        "granted_at",
        "revoked_at",
        "source",
        "text_version",
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.pk:
            return ["customer", "channel", "granted_at", "revoked_at"]
        return ["granted_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        consent = consent_set(
            customer=obj.customer,
            channel=obj.channel,
            is_granted=data["is_granted"],
            source=data.get("source", ""),
            text_version=data.get("text_version", ""),
        )
        _copy_saved(obj, consent)


class ProfileQuestionChoiceFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        question = self.instance
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if question.has_choices and not kept:
            raise ValidationError(
                _("A question answered from a list needs at least one option."), code="no_options"
            )
        if not question.has_choices and kept:
            raise ValidationError(
                _(
                    "Only questions answered from a list have options; remove them or change the type."
                ),
                code="options_not_used",
            )


class ProfileQuestionChoiceInline(TabularInline):
    model = ProfileQuestionChoice
    formset = ProfileQuestionChoiceFormSet
    extra = 1


@admin.register(ProfileQuestion)
class ProfileQuestionAdmin(ModelAdmin):
    form = ProfileQuestionAdminForm
    list_display = ["label", "code", "answer_type", "is_required", "is_active", "position"]
    list_filter = ["answer_type", "is_active", "is_required"]
    list_editable = ["position", "is_active"]
    search_fields = ["label", "code"]
    readonly_fields = ["created_at"]
    fieldsets = [
        (None, {"fields": ["label", "code", "help_text"]}),
        (_("Answer"), {"fields": ["answer_type", "is_required"]}),
        (_("Display"), {"fields": ["is_active", "position", "created_at"]}),
    ]
    inlines = [ProfileQuestionChoiceInline]


@admin.register(ProfileAnswer)
class ProfileAnswerAdmin(ModelAdmin):
    list_display = ["customer", "question", "answer", "answered_at"]
    list_filter = ["question", "question__answer_type"]
    search_fields = ["customer__phone", "customer__last_name", "question__code"]
    list_select_related = ["customer", "question"]
    readonly_fields = [
        "customer",
        "question",
        "value_text",
        "value_number",
        "value_date",
        "value_bool",
        "value_choices",
        "answered_at",
    ]

    def has_add_permission(self, request):
        return False  # answers are given on the customer's page, where they are checked

    @admin.display(description=_("answer"))
    def answer(self, obj):
        return obj.value


@admin.register(FamilyMember)
class FamilyMemberAdmin(ModelAdmin):
    list_display = ["customer", "relation", "name", "birth_date", "gender"]
    list_filter = ["relation", "gender"]
    search_fields = ["customer__phone", "customer__last_name", "name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]


@admin.register(Car)
class CarAdmin(ModelAdmin):
    list_display = ["customer", "make", "model", "year", "plate"]
    list_filter = ["make"]
    search_fields = ["customer__phone", "customer__last_name", "make", "model", "plate"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]


@admin.register(MemorableDate)
class MemorableDateAdmin(ModelAdmin):
    list_display = ["customer", "kind", "title", "date", "is_yearly"]
    list_filter = ["kind", "is_yearly"]
    search_fields = ["customer__phone", "customer__last_name", "title"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]


class SegmentMemberInline(TabularInline):
    model = SegmentMember
    extra = 0
    autocomplete_fields = ["customer"]
    fields = ["customer", "added_at"]
    readonly_fields = ["added_at"]

    # A rule segment's members are the rule's: only a refresh changes them.
    def has_add_permission(self, request, obj=None):
        return (obj is None or not obj.is_refreshed) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return (obj is None or not obj.is_refreshed) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or not obj.is_refreshed) and super().has_delete_permission(request, obj)


@admin.register(Segment)
class SegmentAdmin(SegmentBuilderAdmin, ModelAdmin):
    list_display = [
        "name",
        "code",
        "programme",
        "kind",
        "rule_text",
        "member_count",
        "refreshed_at",
        "refresh_ms",
        "created_at",
    ]
    list_filter = ["programme", "kind"]
    search_fields = ["name", "code", "description"]
    inlines = [SegmentMemberInline]
    actions = ["refresh_now"]
    readonly_fields = ["size", "refreshed_at", "refresh_ms", "refresh_error", "recent_refreshes"]
    fieldsets = [
        (None, {"fields": ["programme", "code", "name", "description"]}),
        (_("Who is in it"), {"fields": ["kind", "rule"]}),
        (
            _("Refreshes"),
            {
                "fields": [
                    "size",
                    "refreshed_at",
                    "refresh_ms",
                    "refresh_error",
                    "recent_refreshes",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("members"))

    def get_urls(self):
        from functools import partial

        from django.urls import path

        from crm.admin_segmentations import segmentation_view

        view = self.admin_site.admin_view(partial(segmentation_view, self))
        return [
            path("segmentation/", view, name="crm_segment_segmentation"),
            *super().get_urls(),
        ]

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, obj) -> int:
        return obj.member_total

    @admin.display(description=_("last refreshes"))
    def recent_refreshes(self, obj):
        from django.utils.html import format_html_join

        rows = obj.refreshes.order_by("-started_at", "-pk")[:10] if obj.pk else []
        return (
            format_html_join(
                "",
                "<div>{}: {} ({} {}, {} {}), {}, {} ms{}</div>",
                (
                    (
                        f"{refresh.started_at:%Y-%m-%d %H:%M}",
                        refresh.size if refresh.size is not None else "—",
                        _("entered"),
                        refresh.entered,
                        _("left"),
                        refresh.left,
                        refresh.get_mode_display(),
                        refresh.took_ms,
                        f" — {refresh.error}" if refresh.error else "",
                    )
                    for refresh in rows
                ),
            )
            or "—"
        )

    @admin.action(description=_("Refresh now"), permissions=["change"])
    def refresh_now(self, request, queryset):
        from crm.errors import SegmentRuleError
        from crm.models import SegmentRefresh
        from crm.segments.refresh import segment_refresh

        for segment in queryset.order_by("pk"):
            if not segment.is_refreshed:
                self.message_user(
                    request,
                    _("“%(name)s” is filled by hand: it is never refreshed.")
                    % {"name": segment.name},
                    messages.WARNING,
                )
                continue
            try:
                done = segment_refresh(
                    segment.pk, trigger=SegmentRefresh.Trigger.STAFF, user=request.user
                )
            except SegmentRuleError as exc:
                self.message_user(
                    request,
                    _("“%(name)s” was not refreshed: %(error)s")
                    % {"name": segment.name, "error": exc},
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                _("“%(name)s”: %(size)s members, %(entered)s entered, %(left)s left, in %(ms)s ms.")
                % {
                    "name": segment.name,
                    "size": done.size,
                    "entered": done.entered,
                    "left": done.left,
                    "ms": done.took_ms,
                },
                messages.SUCCESS,
            )
