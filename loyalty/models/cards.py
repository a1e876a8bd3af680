"""Loyalty and gift cards, and the batches they are produced in."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.models.imports import ImportJob, ImportRowError
from loyalty.validators import validate_card_number, validate_code


class CardType(models.TextChoices):
    LOYALTY = "loyalty", _("loyalty card")
    GIFT = "gift", _("gift card")


class CardBatch(models.Model):
    """A run of cards produced together: generated here for a printing house, or imported."""

    class CheckDigit(models.TextChoices):
        NONE = "none", _("none")
        LUHN = "luhn", _("Luhn (mod 10)")
        EAN13 = "ean13", _("EAN-13")

    class Source(models.TextChoices):
        GENERATED = "generated", _("generated")
        IMPORTED = "imported", _("imported")
        VIRTUAL = "virtual", _("virtual cards issued by the system")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="card_batches",
    )
    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    card_type = models.CharField(
        _("card type"), max_length=16, choices=CardType.choices, default=CardType.LOYALTY
    )
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.GENERATED
    )
    prefix = models.CharField(_("number prefix"), max_length=16, blank=True)
    number_length = models.PositiveSmallIntegerField(_("number length"), default=13)
    check_digit = models.CharField(
        _("check digit"), max_length=8, choices=CheckDigit.choices, default=CheckDigit.NONE
    )
    planned_size = models.PositiveIntegerField(_("planned size"), default=0)
    comment = models.TextField(_("comment"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("card batch")
        verbose_name_plural = _("card batches")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(number_length__gte=4) & Q(number_length__lte=32),
                name="card_batch_length_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Card(models.Model):
    """A card that identifies a customer at the register; a gift card carries money value."""

    class Status(models.TextChoices):
        NEW = "new", _("new (not given out)")
        ISSUED = "issued", pgettext_lazy("card status", "issued")
        ACTIVE = "active", pgettext_lazy("card status", "active")
        BLOCKED = "blocked", pgettext_lazy("card status", "blocked")
        LOST = "lost", _("lost")
        REPLACED = "replaced", _("replaced")

    number = models.CharField(
        _("number"), max_length=32, unique=True, validators=[validate_card_number]
    )
    card_type = models.CharField(
        _("type"), max_length=16, choices=CardType.choices, default=CardType.LOYALTY
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="cards",
    )
    batch = models.ForeignKey(
        CardBatch,
        verbose_name=_("batch"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cards",
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cards",
    )
    is_virtual = models.BooleanField(_("virtual"), default=False)
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    blocked_at = models.DateTimeField(_("blocked"), null=True, blank=True)
    block_reason = models.CharField(_("block reason"), max_length=300, blank=True)
    replaced_by = models.OneToOneField(
        "self",
        verbose_name=_("replaced by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaces",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="new") | Q(customer__isnull=True),
                name="card_new_has_no_customer",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(activated_at__isnull=False),
                name="card_active_has_activation_date",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["blocked", "lost"]) | Q(blocked_at__isnull=False),
                name="card_blocked_has_block_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="replaced") | Q(replaced_by__isnull=False),
                name="card_replaced_names_successor",
            ),
            models.CheckConstraint(
                condition=Q(replaced_by__isnull=True) | ~Q(replaced_by=models.F("id")),
                name="card_not_replaced_by_itself",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def can_earn(self) -> bool:
        return self.status in (self.Status.ISSUED, self.Status.ACTIVE)

    @property
    def can_spend(self) -> bool:
        return self.status == self.Status.ACTIVE


class CardOperation(models.Model):
    """One operation on a card, by whom, when and why: the record operators and auditors read.

    Written only by ``loyalty.services.card_operations`` in the operation's transaction, and
    never changed (an operation that is refused leaves no row)."""

    class Kind(models.TextChoices):
        ACTIVATE = "activate", _("activated")
        BLOCK = "block", _("blocked")
        MARK_LOST = "mark_lost", _("marked lost")
        UNBLOCK = "unblock", _("unblocked")
        REPLACE = "replace", _("replaced by a new card")
        REPLACEMENT = "replacement", _("given as a replacement")
        MERGE = "merge", _("moved by a customer merge")

    card = models.ForeignKey(
        Card, verbose_name=_("card"), on_delete=models.PROTECT, related_name="operations"
    )
    kind = models.CharField(_("operation"), max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff user"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: a system job."),
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("card operation")
        verbose_name_plural = _("card operations")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["card", "at"], name="card_operation_card_idx")]

    def __str__(self) -> str:
        return f"{self.card_id}: {self.kind}"


class CardImport(ImportJob):
    """A card file import: checked, then loaded, in-request or in the background (Celery)."""

    file = models.FileField(_("file"), upload_to="card_imports/")
    batch = models.ForeignKey(
        CardBatch,
        verbose_name=_("default batch"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="imports",
        help_text=_("For rows that leave the batch column empty."),
    )
    cards_created = models.PositiveIntegerField(_("cards created"), default=0)

    option_fields = ("file", "batch")

    class Meta(ImportJob.Meta):
        verbose_name = _("card import")
        verbose_name_plural = _("card imports")

    def load_counts(self) -> dict[str, int]:
        return {"created": self.cards_created, "updated": 0, "unchanged": 0}


class CardImportError(ImportRowError):
    """A card row that cannot be imported."""

    job = models.ForeignKey(
        CardImport, verbose_name=_("import"), on_delete=models.CASCADE, related_name="row_errors"
    )

    class Meta(ImportRowError.Meta):
        verbose_name = _("card import error")
        verbose_name_plural = _("card import errors")
        indexes = [models.Index(fields=["job", "row"], name="cardimporterror_job_row")]
