"""Committed purchases (receipts) and their lines, as confirm recorded them."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.money import (
    DECIMAL_PLACES,
    MAX_DIGITS,
    POINTS_DECIMAL_PLACES,
    QUANTITY_DECIMAL_PLACES,
    QUANTITY_MAX_DIGITS,
)


def money_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name,
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
        **kwargs,
    )


def points_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name,
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        default=Decimal("0"),
        **kwargs,
    )


# Half a kopeck. SQLite keeps decimals as binary floats, so an exact equality of a sum can fail
# there by 1e-13; amounts are quantized to kopecks, so "within half a kopeck" is still exact.
HALF_KOPECK = Value(Decimal("0.005"))


def adds_up(field: str, expression) -> Q:
    """A check that ``field`` equals ``expression`` (both in kopecks) on every database."""
    return Q(**{f"{field}__gt": expression - HALF_KOPECK}) & Q(
        **{f"{field}__lt": expression + HALF_KOPECK}
    )


class Receipt(models.Model):
    """A purchase committed by ``confirm``, unique per terminal and ``receipt_id`` (L8)."""

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", _("confirmed")
        CANCELLED = "cancelled", _("cancelled")
        PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")
        REFUNDED = "refunded", _("refunded")

    terminal = models.ForeignKey(
        "loyalty.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.PROTECT,
        related_name="receipts",
    )
    # Denormalised from the terminal so that partner-scoped lists and reports need no joins.
    store = models.ForeignKey(
        "loyalty.Store", verbose_name=_("store"), on_delete=models.PROTECT, related_name="receipts"
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        related_name="receipts",
    )
    receipt_id = models.CharField(_("receipt id"), max_length=64)
    status = models.CharField(
        _("status"), max_length=24, choices=Status.choices, default=Status.CONFIRMED
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="receipts",
    )
    card = models.ForeignKey(
        "loyalty.Card",
        verbose_name=_("card"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="receipts",
    )
    currency = models.ForeignKey(
        "loyalty.Currency",
        verbose_name=_("points currency"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    sold_at = models.DateTimeField(_("time of sale"))
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)
    is_offline = models.BooleanField(_("uploaded offline"), default=False)
    total = money_field(_("total"))
    discount = money_field(_("discount"))
    points_spent = money_field(_("paid with points, RUB"))
    to_pay = money_field(_("paid with money"))
    points_earned = points_field(_("points earned"))
    spent_points = points_field(_("points debited"))
    tier_amount = money_field(
        _("counted towards the tier"), help_text=_("Taken back in proportion by refunds.")
    )
    is_flagged = models.BooleanField(
        _("flagged for review"),
        default=False,
        help_text=_("An offline receipt spent more points than the account held."),
    )
    offline_shortfall = points_field(_("offline spend beyond the balance"))
    fingerprint = models.CharField(
        _("request fingerprint"),
        max_length=64,
        blank=True,
        help_text=_(
            "SHA-256 of the canonical request body; a retry with another body is a conflict."
        ),
    )
    result = models.JSONField(_("result as returned"), default=dict, blank=True)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-sold_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal", "receipt_id"], name="receipt_unique_per_terminal"
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0)
                & Q(discount__gte=0)
                & Q(points_spent__gte=0)
                & Q(to_pay__gte=0)
                & Q(points_earned__gte=0),
                name="receipt_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=adds_up("to_pay", F("total") - F("discount") - F("points_spent")),
                name="receipt_to_pay_adds_up",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-sold_at"], name="receipt_customer_idx"),
            models.Index(fields=["partner", "-sold_at"], name="receipt_partner_idx"),
            # The receipts list's order (newest first; the admin adds the id): its first page
            # read from the index instead of sorting every receipt (and, on PostgreSQL, the
            # date drill-down's first and last dates).
            models.Index(fields=["-sold_at", "-id"], name="receipt_sold_at_idx"),
            # and receipt_recorded_at_brin (BRIN on PostgreSQL), only in migration 0026
        ]

    def __str__(self) -> str:
        return f"{self.terminal_id}/{self.receipt_id}"


class ReceiptLine(models.Model):
    receipt = models.ForeignKey(
        Receipt, verbose_name=_("receipt"), on_delete=models.PROTECT, related_name="lines"
    )
    line_no = models.PositiveIntegerField(_("line"))
    sku = models.CharField(_("SKU"), max_length=64)
    product = models.ForeignKey(
        "loyalty.Product",
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="receipt_lines",
    )
    quantity = models.DecimalField(
        _("quantity"), max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_DECIMAL_PLACES
    )
    price = money_field(_("price"))
    amount = money_field(_("amount"))
    discount = money_field(_("discount"))
    points_spent = money_field(_("paid with points, RUB"))
    to_pay = money_field(_("paid with money"))
    points_earned = points_field(_("points earned"))
    spent_points = points_field(_("points debited"))
    refunded_quantity = models.DecimalField(
        _("refunded quantity"),
        max_digits=QUANTITY_MAX_DIGITS,
        decimal_places=QUANTITY_DECIMAL_PLACES,
        default=Decimal("0"),
    )

    class Meta:
        verbose_name = _("receipt line")
        verbose_name_plural = _("receipt lines")
        ordering = ["receipt_id", "line_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["receipt", "line_no"], name="receipt_line_unique_number"
            ),
            models.CheckConstraint(
                condition=Q(line_no__gte=1), name="receipt_line_number_positive"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="receipt_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0)
                & Q(amount__gte=0)
                & Q(discount__gte=0)
                & Q(points_spent__gte=0)
                & Q(to_pay__gte=0)
                & Q(points_earned__gte=0),
                name="receipt_line_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=adds_up("to_pay", F("amount") - F("discount") - F("points_spent")),
                name="receipt_line_to_pay_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(refunded_quantity__gte=0) & Q(refunded_quantity__lte=F("quantity")),
                name="receipt_line_refund_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt_id}#{self.line_no} {self.sku}"
