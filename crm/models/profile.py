"""Admin-defined profile questions and the customers' answers; family and memorable dates."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.validators import validate_code


class ProfileQuestion(models.Model):
    """A question of the customer questionnaire, defined in the admin without code changes."""

    class AnswerType(models.TextChoices):
        TEXT = "text", _("text")
        NUMBER = "number", _("number")
        DATE = "date", _("date")
        BOOLEAN = "boolean", _("yes / no")
        CHOICE = "choice", _("one of a list")
        MULTI_CHOICE = "multi_choice", _("several of a list")

    code = models.CharField(
        _("code"),
        max_length=64,
        unique=True,
        validators=[validate_code],
        help_text=_("The key of the answer in the API and in exports."),
    )
    label = models.CharField(_("question"), max_length=300)
    help_text = models.CharField(_("hint"), max_length=300, blank=True)
    answer_type = models.CharField(
        _("answer type"), max_length=16, choices=AnswerType.choices, default=AnswerType.TEXT
    )
    is_required = models.BooleanField(_("required"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("profile question")
        verbose_name_plural = _("profile questions")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def has_choices(self) -> bool:
        return self.answer_type in (self.AnswerType.CHOICE, self.AnswerType.MULTI_CHOICE)


class ProfileQuestionChoice(models.Model):
    question = models.ForeignKey(
        ProfileQuestion,
        verbose_name=_("question"),
        on_delete=models.CASCADE,
        related_name="choices",
    )
    value = models.CharField(_("value"), max_length=64, validators=[validate_code])
    label = models.CharField(_("label"), max_length=200)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("answer option")
        verbose_name_plural = _("answer options")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["question", "value"], name="profile_choice_unique_value"
            )
        ]

    def __str__(self) -> str:
        return self.label


class ProfileAnswer(models.Model):
    """A customer's answer, stored in the column of the question's type."""

    customer = models.ForeignKey(
        "crm.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="answers"
    )
    question = models.ForeignKey(
        ProfileQuestion,
        verbose_name=_("question"),
        on_delete=models.PROTECT,
        related_name="answers",
    )
    value_text = models.TextField(_("text"), blank=True)
    value_number = models.DecimalField(
        _("number"), max_digits=20, decimal_places=4, null=True, blank=True
    )
    value_date = models.DateField(_("date"), null=True, blank=True)
    value_bool = models.BooleanField(_("yes / no"), null=True, blank=True)
    value_choices = models.JSONField(_("chosen options"), default=list, blank=True)
    answered_at = models.DateTimeField(_("answered"), auto_now=True)

    class Meta:
        verbose_name = _("profile answer")
        verbose_name_plural = _("profile answers")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "question"], name="profile_answer_one_per_question"
            )
        ]
        # who answered since: an incremental segment refresh (crm.segments.incremental)
        indexes = [models.Index(fields=["answered_at"], name="profile_answer_answered_idx")]

    def __str__(self) -> str:
        return f"{self.question.code}={self.value!r}"

    @property
    def value(self):
        kind = ProfileQuestion.AnswerType
        return {
            kind.TEXT: self.value_text,
            kind.NUMBER: self.value_number,
            kind.DATE: self.value_date,
            kind.BOOLEAN: self.value_bool,
            kind.CHOICE: self.value_choices[0] if self.value_choices else None,
            kind.MULTI_CHOICE: list(self.value_choices),
        }[self.question.answer_type]


class FamilyMember(models.Model):
    """A person or pet close to the customer: children's birthdays drive promotions."""

    class Relation(models.TextChoices):
        CHILD = "child", _("child")
        SPOUSE = "spouse", _("spouse or partner")
        PARENT = "parent", _("parent")
        SIBLING = "sibling", _("brother or sister")
        PET = "pet", _("pet")
        OTHER = "other", _("other")

    customer = models.ForeignKey(
        "crm.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="family"
    )
    relation = models.CharField(_("relation"), max_length=16, choices=Relation.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    gender = models.CharField(
        _("gender"),
        max_length=8,
        choices=[("unknown", _("not stated")), ("female", _("female")), ("male", _("male"))],
        default="unknown",
    )
    species = models.CharField(
        _("species or breed"), max_length=100, blank=True, help_text=_("For pets.")
    )

    class Meta:
        verbose_name = _("family member")
        verbose_name_plural = _("family members")
        ordering = ["customer_id", "relation", "birth_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(relation="pet") | Q(species=""), name="family_species_only_for_pets"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_relation_display()}: {self.name}"


class Car(models.Model):
    customer = models.ForeignKey(
        "crm.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="cars"
    )
    make = models.CharField(_("make"), max_length=100)
    model = models.CharField(_("model"), max_length=100, blank=True)
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    plate = models.CharField(_("registration plate"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("car")
        verbose_name_plural = _("cars")
        constraints = [
            models.CheckConstraint(
                condition=Q(year__isnull=True) | (Q(year__gte=1900) & Q(year__lte=2100)),
                name="car_year_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.make} {self.model}".strip()


class MemorableDate(models.Model):
    """A date the customer told us about: a wedding anniversary, a housewarming..."""

    class Kind(models.TextChoices):
        WEDDING = "wedding", _("wedding anniversary")
        ANNIVERSARY = "anniversary", _("other anniversary")
        NAME_DAY = "name_day", _("name day")
        OTHER = "other", _("other")

    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="memorable_dates",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.OTHER)
    title = models.CharField(_("title"), max_length=200, blank=True)
    date = models.DateField(_("date"))
    is_yearly = models.BooleanField(_("every year"), default=True)

    class Meta:
        verbose_name = _("memorable date")
        verbose_name_plural = _("memorable dates")
        ordering = ["customer_id", "date"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date:%Y-%m-%d}"

    def clean(self) -> None:
        if self.kind == self.Kind.OTHER and not self.title:
            raise ValidationError(
                {"title": ValidationError(_("Say what the date is."), code="memorable_date_title")}
            )
