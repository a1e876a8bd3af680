"""Forms of the crm admin, including the questionnaire built from ProfileQuestion rows."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.contacts import mask_email
from crm.errors import CrmError, OwnReferrer
from crm.models import Consent, ContactVerification, Customer, ProfileQuestion
from crm.phones import mask_phone
from crm.services import (
    customer_birth_date_check,
    customer_email_check,
    customer_phone_check,
    customer_referral_code_check,
    profile_answer_parse,
    profile_answers_get,
)

QUESTION_PREFIX = "q_"
Kind = ProfileQuestion.AnswerType


def question_field_name(question: ProfileQuestion) -> str:
    return f"{QUESTION_PREFIX}{question.code}"


def question_form_field(question: ProfileQuestion) -> forms.Field:
    """Return the form field that asks ``question``, chosen by its answer type."""
    common = {
        "label": question.label,
        "help_text": question.help_text,
        "required": question.is_required,
    }
    choices = [(choice.value, choice.label) for choice in question.choices.all()]
    if question.answer_type == Kind.NUMBER:
        return forms.DecimalField(max_digits=20, decimal_places=4, **common)
    if question.answer_type == Kind.DATE:
        # An <input type="date"> takes and shows ISO dates whatever the interface language.
        widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        return forms.DateField(widget=widget, **common)
    if question.answer_type == Kind.BOOLEAN:
        return forms.TypedChoiceField(
            choices=[("", "—"), ("true", _("yes")), ("false", _("no"))],
            coerce=lambda value: value == "true",
            empty_value=None,
            **common,
        )
    if question.answer_type == Kind.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *choices], **common)
    if question.answer_type == Kind.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    return forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, **common)


def _as_field_error(error: CrmError) -> ValidationError:
    return ValidationError(error.detail, code=error.code)


class CustomerAdminForm(forms.ModelForm):
    """Checks phone, email, referral and birth date the way the services do, as form errors.

    The verified flags are not fields: only a verification (the "Verify contacts" page) sets
    them, and a changed phone or email clears its own.

    ``questions`` is set on a subclass made per request (``with_questionnaire``), which also
    declares one field per question.
    """

    # Typed in any notation ("8 (913) 555-44-33"); stored in E.164.
    phone = forms.CharField(label=_("phone"), max_length=40, required=False)
    questions: list[ProfileQuestion] = []

    class Meta:
        model = Customer
        # The admin narrows this to its fieldsets and adds the questionnaire's fields.
        fields = [
            "first_name",
            "middle_name",
            "last_name",
            "phone",
            "email",
            "birth_date",
            "gender",
            "registered_at",
            "source",
            "source_detail",
            "referral_code",
            "referrer",
            "comment",
        ]

    @classmethod
    def with_questionnaire(cls, questions: list[ProfileQuestion]) -> type[CustomerAdminForm]:
        """Return a subclass asking ``questions`` too, one form field per question."""
        declared = {question_field_name(q): question_form_field(q) for q in questions}
        return type(
            f"{cls.__name__}WithQuestionnaire", (cls,), {**declared, "questions": questions}
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = [q for q in self.questions if question_field_name(q) in self.fields]
        if self.instance.pk and self.questions:
            answers = profile_answers_get(self.instance)
            for question in self.questions:
                value = answers.get(question.code)
                if question.answer_type == Kind.BOOLEAN and value is not None:
                    value = "true" if value else "false"
                if question.answer_type == Kind.CHOICE and value is None:
                    value = ""
                self.initial[question_field_name(question)] = value

    def _other(self) -> Customer | None:
        return self.instance if self.instance.pk else None

    def clean_phone(self):
        try:
            return customer_phone_check(self.cleaned_data.get("phone"), exclude=self._other())
        except CrmError as error:
            raise _as_field_error(error) from None

    def clean_email(self):
        try:
            return customer_email_check(self.cleaned_data.get("email"), exclude=self._other())
        except CrmError as error:
            raise _as_field_error(error) from None

    def clean_referral_code(self):
        code = self.cleaned_data.get("referral_code")
        try:
            return customer_referral_code_check(code, exclude=self._other())
        except CrmError as error:
            raise _as_field_error(error) from None

    def clean_referrer(self):
        referrer = self.cleaned_data.get("referrer")
        if referrer is not None and self.instance.pk and referrer.pk == self.instance.pk:
            raise _as_field_error(OwnReferrer())
        return referrer

    def clean_birth_date(self):
        birth_date = self.cleaned_data.get("birth_date")
        try:
            customer_birth_date_check(birth_date)
        except CrmError as error:
            raise _as_field_error(error) from None
        return birth_date

    def clean(self):
        cleaned_data = super().clean()
        # The service checks the answers again on save; checking here shows its messages
        # next to the question instead of failing the whole page.
        for question in self.questions:
            name = question_field_name(question)
            if name in self.errors:
                continue
            try:
                profile_answer_parse(question, self.cleaned_data.get(name))
            except ValidationError as error:
                self.add_error(name, error)
        return cleaned_data

    def questionnaire_answers(self) -> dict[str, object]:
        """Return the answers entered, by question code, as ``profile_answers_set`` takes them."""
        return {q.code: self.cleaned_data.get(question_field_name(q)) for q in self.questions}


class ConsentAdminForm(forms.ModelForm):
    """The fields an operator may set; the timestamps are kept by ``consent_set``."""

    class Meta:
        model = Consent
        fields = ["customer", "channel", "is_granted", "source", "text_version"]


class ProfileQuestionAdminForm(forms.ModelForm):
    class Meta:
        model = ProfileQuestion
        fields = [
            "code",
            "label",
            "help_text",
            "answer_type",
            "is_required",
            "is_active",
            "position",
        ]

    def clean_answer_type(self):
        answer_type = self.cleaned_data.get("answer_type")
        question = self.instance
        if question.pk and answer_type != question.answer_type and question.answers.exists():
            raise ValidationError(
                _(
                    "Customers have already answered this question, so its answer type cannot "
                    "change. Make a new question and deactivate this one."
                ),
                code="answer_type_locked",
            )
        return answer_type


Channel = ContactVerification.Channel


class VerificationCodeForm(forms.Form):
    """The code a customer reads out, for the channel it was sent through."""

    channel = forms.ChoiceField(label=_("channel"), choices=Channel.choices, initial=Channel.SMS)
    code = forms.CharField(
        label=_("code"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "size": 8}),
    )


def verification_sent_text(verification: ContactVerification) -> str:
    """What the staff member is told once a code or link is queued (the address masked)."""
    if verification.channel == Channel.SMS:
        return str(
            _("A verification code is queued by SMS to %(address)s.")
            % {"address": mask_phone(verification.address)}
        )
    return str(
        _("A verification link is queued by email to %(address)s.")
        % {"address": mask_email(verification.address)}
    )


def verification_done_text(verification: ContactVerification) -> str:
    if verification.channel == Channel.SMS:
        return str(_("The phone number is verified."))
    return str(_("The email address is verified."))
