"""Gift cards and certificates: money that pays part of a receipt, with their own ledger.

A certificate holds roubles, not points. It is emitted in a series (a printing run or an
electronic batch), becomes spendable when it is activated (sold), pays any part of a receipt at
the partners its series admits, keeps the rest as its balance, and burns what is left at its
end. Every change of a balance is one ``CertificateEntry``: entries are only ever inserted, and
a certificate's balance always equals the sum of its entries (checked by ``check_ledger``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.models.ledger import AppendOnlyModel
from loyalty.money import DECIMAL_PLACES, MAX_DIGITS
from loyalty.validators import validate_code

ZERO = Decimal("0.00")


class CertificateSeries(models.Model):
    """A batch of gift cards or certificates of one nominal and one set of rules."""

    class Kind(models.TextChoices):
        CERTIFICATE = "certificate", _("gift certificate")
        GIFT_CARD = "gift_card", _("gift card")

    class Activation(models.TextChoices):
        ON_SALE = "on_sale", _("when sold (activated at the register or in the admin)")
        ON_EMISSION = "on_emission", _("at once (electronic certificates)")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="certificate_series",
    )
    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=16, choices=Kind.choices, default=Kind.CERTIFICATE
    )
    nominal = models.DecimalField(
        _("nominal, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    activation = models.CharField(
        _("activation"), max_length=16, choices=Activation.choices, default=Activation.ON_SALE
    )
    lifetime_days = models.PositiveIntegerField(
        _("valid for, days after activation"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: until the series' end date, or without end."),
    )
    valid_until = models.DateTimeField(
        _("valid until"),
        null=True,
        blank=True,
        help_text=_("No certificate of the series pays after this moment."),
    )
    single_use = models.BooleanField(
        _("single use"),
        default=False,
        help_text=_(
            "The first payment uses the certificate up: what it leaves unpaid is burnt. "
            "Off: it pays in parts and keeps the rest as its balance."
        ),
    )
    partners = models.ManyToManyField(
        "loyalty.Partner",
        verbose_name=_("accepted at"),
        blank=True,
        related_name="+",
        help_text=_("Empty: at every partner of the programme."),
    )
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
        verbose_name = _("certificate series")
        verbose_name_plural = _("certificate series")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class GiftCertificate(models.Model):
    """One gift card or certificate: its code, its money and its life."""

    class Status(models.TextChoices):
        NEW = "new", _("new (not sold)")
        ACTIVE = "active", pgettext_lazy("certificate status", "active")
        USED = "used", _("used up")
        EXPIRED = "expired", _("expired")
        BLOCKED = "blocked", pgettext_lazy("certificate status", "blocked")

    series = models.ForeignKey(
        CertificateSeries,
        verbose_name=_("series"),
        on_delete=models.PROTECT,
        related_name="certificates",
    )
    code = models.CharField(_("code"), max_length=32, unique=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    nominal = models.DecimalField(_("nominal"), max_digits=MAX_DIGITS, decimal_places=2)
    balance = models.DecimalField(
        _("balance"), max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, default=ZERO
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gift_certificates",
    )
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    blocked_reason = models.CharField(_("block reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("gift certificate")
        verbose_name_plural = _("gift certificates")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="certificate_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(balance__lte=models.F("nominal")),
                name="certificate_balance_within_nominal",
            ),
            models.CheckConstraint(
                condition=~Q(status="new") | Q(balance=0),
                name="certificate_new_holds_nothing",
            ),
            models.CheckConstraint(
                condition=Q(status="new") | Q(activated_at__isnull=False),
                name="certificate_sold_has_activation",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="certificate_expiry_idx")]

    def __str__(self) -> str:
        return self.code


class CertificateEntry(AppendOnlyModel):
    """One movement of a certificate's money (its own ledger): positive adds to the balance."""

    class Kind(models.TextChoices):
        ACTIVATE = "activate", _("activation (sale)")
        REDEEM = "redeem", _("payment for a receipt")
        REFUND = "refund", _("returned by a refund or cancel")
        BURN = "burn", _("rest burnt (single use)")
        EXPIRE = "expire", _("expiry")

    certificate = models.ForeignKey(
        GiftCertificate,
        verbose_name=_("certificate"),
        on_delete=models.PROTECT,
        related_name="entries",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = models.DecimalField(_("amount"), max_digits=MAX_DIGITS, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=MAX_DIGITS, decimal_places=2)
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="certificate_entries",
    )
    refund = models.ForeignKey(
        "loyalty.Refund",
        verbose_name=_("refund"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="certificate_entries",
    )
    # The partner that accepted (or gave back) the money: the coalition's settlement.
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    terminal = models.ForeignKey(
        "loyalty.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff user"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # A payment's or a refund's money by receipt line number: what later refunds give back.
    lines = models.JSONField(_("by receipt line"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("certificate entry")
        verbose_name_plural = _("certificate entries")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="certificate_entry_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="certificate_entry_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.certificate_id} {self.kind} {self.amount}"


class CertificateHold(models.Model):
    """Money of a certificate that ``calculate`` with ``hold`` reserved for one receipt."""

    certificate = models.ForeignKey(
        GiftCertificate,
        verbose_name=_("certificate"),
        on_delete=models.CASCADE,
        related_name="holds",
    )
    key = models.CharField(_("receipt"), max_length=100)  # hold_key(terminal, receipt id)
    amount = models.DecimalField(_("amount"), max_digits=MAX_DIGITS, decimal_places=2)
    expires_at = models.DateTimeField(_("expires"))

    class Meta:
        verbose_name = _("certificate hold")
        verbose_name_plural = _("certificate holds")
        constraints = [
            models.UniqueConstraint(fields=["certificate", "key"], name="certificate_hold_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="certificate_hold_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.certificate_id} {self.amount}"
