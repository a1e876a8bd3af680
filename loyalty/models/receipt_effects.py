"""What the registers' pipeline keeps beside the ledger: holds, refunds and the effects of a
receipt (the lots are the ledger's: ``loyalty.models.ledger``).

- ``Hold``: points reserved between ``calculate`` and ``confirm`` (pos-api.md).
- ``Refund`` and ``RefundLine``: returns and cancellations, each processed at most once.
- ``ReceiptLineReward``: per line and per promotion, what a confirmed purchase gave; refunds
  reverse these records and never re-evaluate promotions.
- ``ReceiptCounterEffect``: what a purchase added to a counter, so a refund can take it back.
- ``ReceiptExchange``: a promotion a purchase paid for with points (chips exchanged at the
  register), so a cancel gives them back once.
- ``ReceiptTierAward``: a tier a promotion's reward gave with a purchase, so a cancel takes it
  back once.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.models.ledger import Lot
from loyalty.models.receipts import money_field, points_field
from loyalty.money import (
    MAX_DIGITS,
    POINTS_DECIMAL_PLACES,
    QUANTITY_DECIMAL_PLACES,
    QUANTITY_MAX_DIGITS,
)


class Hold(models.Model):
    """Points reserved for one receipt of a terminal between calculate and confirm."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("hold status", "active")
        CONSUMED = "consumed", _("consumed by confirm")
        RELEASED = "released", _("released")
        EXPIRED = "expired", _("expired")

    account = models.ForeignKey(
        "loyalty.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="holds"
    )
    terminal = models.ForeignKey(
        "loyalty.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.PROTECT,
        related_name="holds",
    )
    receipt_id = models.CharField(_("receipt id"), max_length=64)
    points = models.DecimalField(
        _("points held"), max_digits=MAX_DIGITS, decimal_places=POINTS_DECIMAL_PLACES
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    expires_at = models.DateTimeField(_("expires"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal", "receipt_id"],
                condition=Q(status="active"),
                name="hold_one_active_per_receipt",
            ),
            models.CheckConstraint(condition=Q(points__gte=0), name="hold_points_not_negative"),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="active"), name="hold_active_idx"
            ),
            models.Index(
                fields=["account"], condition=Q(status="active"), name="hold_account_active_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.terminal_id}/{self.receipt_id}: {self.points}"


class Refund(models.Model):
    """A return of some lines of a purchase, or the cancellation of all of it (at most once)."""

    class Kind(models.TextChoices):
        REFUND = "refund", _("refund")
        CANCEL = "cancel", _("cancellation")

    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        related_name="refunds",
    )
    terminal = models.ForeignKey(
        "loyalty.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.PROTECT,
        related_name="refunds",
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    refund_id = models.CharField(
        _("refund id"), max_length=64, help_text=_("Empty for a cancellation.")
    )
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    amount = money_field(_("amount returned"))
    to_pay = money_field(_("money returned"))
    points_returned = points_field(_("spent points given back"))
    points_reversed = points_field(_("earned points taken back"))
    shortfall = points_field(
        _("points that could not be taken back"),
        help_text=_("The customer had already spent them; the programme wrote them off."),
    )
    debt = points_field(_("points left as a debt"))
    result = models.JSONField(_("result as returned"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal", "refund_id"],
                condition=Q(kind="refund"),
                name="refund_unique_per_terminal",
            ),
            models.UniqueConstraint(
                fields=["receipt"], condition=Q(kind="cancel"), name="refund_one_cancel_per_receipt"
            ),
            models.CheckConstraint(
                condition=Q(kind="cancel") | ~Q(refund_id=""), name="refund_has_id"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0)
                & Q(to_pay__gte=0)
                & Q(points_returned__gte=0)
                & Q(points_reversed__gte=0)
                & Q(shortfall__gte=0)
                & Q(debt__gte=0),
                name="refund_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.refund_id or str(_("cancellation"))


class RefundLine(models.Model):
    refund = models.ForeignKey(
        Refund, verbose_name=_("refund"), on_delete=models.PROTECT, related_name="lines"
    )
    line = models.ForeignKey(
        "loyalty.ReceiptLine",
        verbose_name=_("receipt line"),
        on_delete=models.PROTECT,
        related_name="refund_lines",
    )
    quantity = models.DecimalField(
        _("quantity"), max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_DECIMAL_PLACES
    )
    amount = money_field(_("amount"))
    discount = money_field(_("discount"))
    points_spent = money_field(_("paid with points, RUB"))
    to_pay = money_field(_("paid with money"))
    points_earned = points_field(_("earned points taken back"))
    spent_points = points_field(_("spent points given back"))

    class Meta:
        verbose_name = _("refund line")
        verbose_name_plural = _("refund lines")
        ordering = ["refund_id", "line_id"]
        constraints = [
            models.UniqueConstraint(fields=["refund", "line"], name="refund_line_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="refund_line_quantity_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} x {self.quantity}"


class ReceiptLineReward(models.Model):
    """What one promotion gave one line of a confirmed purchase (or took back, on a refund)."""

    class Effect(models.TextChoices):
        DISCOUNT = "discount", _("discount")
        POINTS = "points", _("points")

    line = models.ForeignKey(
        "loyalty.ReceiptLine",
        verbose_name=_("receipt line"),
        on_delete=models.PROTECT,
        related_name="rewards",
    )
    refund = models.ForeignKey(
        Refund,
        verbose_name=_("refund"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text=_("Set on the negative rows a refund writes."),
    )
    promotion = models.ForeignKey(
        "promotions.Promotion",
        verbose_name=_("promotion"),
        on_delete=models.PROTECT,
        related_name="line_rewards",
    )
    effect = models.CharField(_("effect"), max_length=16, choices=Effect.choices)
    currency = models.ForeignKey(
        "loyalty.Currency",
        verbose_name=_("currency"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    amount = models.DecimalField(
        _("amount"), max_digits=MAX_DIGITS, decimal_places=POINTS_DECIMAL_PLACES
    )
    lot = models.ForeignKey(
        Lot,
        verbose_name=_("lot"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="line_rewards",
    )

    class Meta:
        verbose_name = _("line reward")
        verbose_name_plural = _("line rewards")
        constraints = [
            models.CheckConstraint(
                condition=Q(effect="discount", currency__isnull=True)
                | Q(effect="points", currency__isnull=False),
                name="line_reward_currency_for_points",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.promotion_id} {self.effect} {self.amount}"


class ReceiptCounterEffect(models.Model):
    """A step a purchase added to a counter (positive) or a refund took back (negative)."""

    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        related_name="counter_effects",
    )
    refund = models.ForeignKey(
        Refund,
        verbose_name=_("refund"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="counter_effects",
    )
    value = models.ForeignKey(
        "loyalty.CounterValue",
        verbose_name=_("counter value"),
        on_delete=models.PROTECT,
        related_name="effects",
    )
    delta = models.DecimalField(
        _("change"), max_digits=MAX_DIGITS, decimal_places=POINTS_DECIMAL_PLACES
    )

    class Meta:
        verbose_name = _("counter change")
        verbose_name_plural = _("counter changes")

    def __str__(self) -> str:
        return f"{self.value_id} {self.delta:+}"


class ReceiptExchange(models.Model):
    """A promotion a confirmed purchase paid for with points of a currency: chips exchanged at
    the register (mechanics.md item 17) for the promotion's rewards.

    The points were debited by ``posting`` (kind ``exchange``). They come back once, by a
    posting that reverses it, when the purchase is cancelled or every line the exchange's
    rewards touched (``lines``; empty: every line of the receipt) is fully returned;
    ``returned_by`` names that refund. Refunds lock the receipt, so two cannot both give back.
    """

    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        related_name="exchanges",
    )
    promotion = models.ForeignKey(
        "promotions.Promotion",
        verbose_name=_("promotion"),
        on_delete=models.PROTECT,
        related_name="exchanges",
    )
    code = models.CharField(_("code asked for"), max_length=64)
    currency = models.ForeignKey(
        "loyalty.Currency", verbose_name=_("currency"), on_delete=models.PROTECT, related_name="+"
    )
    cost = models.DecimalField(
        _("points paid"), max_digits=MAX_DIGITS, decimal_places=POINTS_DECIMAL_PLACES
    )
    lines = models.JSONField(
        _("lines it touched"),
        default=list,
        blank=True,
        help_text=_("Line numbers its rewards touched; empty: the whole receipt."),
    )
    posting = models.OneToOneField(
        "loyalty.Posting",
        verbose_name=_("debit"),
        on_delete=models.PROTECT,
        related_name="exchange",
    )
    returned_by = models.ForeignKey(
        Refund,
        verbose_name=_("points given back by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exchanges_returned",
    )

    class Meta:
        verbose_name = _("exchange")
        verbose_name_plural = _("exchanges")
        ordering = ["receipt_id", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["receipt", "promotion"], name="receipt_exchange_once_per_promotion"
            ),
            models.CheckConstraint(condition=Q(cost__gt=0), name="receipt_exchange_cost_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.cost} {self.currency_id}"


class ReceiptTierAward(models.Model):
    """A tier a promotion's reward moved the customer to with a confirmed purchase.

    The move raised the customer's qualifying spend by ``amount_added`` (to the tier's
    threshold). A cancel or a return of every line takes it back once (``undone_by``): the
    spend goes down by the same amount and the tier follows it.
    """

    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        related_name="tier_awards",
    )
    promotion = models.ForeignKey(
        "promotions.Promotion",
        verbose_name=_("promotion"),
        on_delete=models.PROTECT,
        related_name="tier_awards",
    )
    programme = models.ForeignKey(
        "loyalty.Programme", verbose_name=_("programme"), on_delete=models.PROTECT, related_name="+"
    )
    from_tier = models.ForeignKey(
        "loyalty.Tier",
        verbose_name=_("from tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    to_tier = models.ForeignKey(
        "loyalty.Tier", verbose_name=_("to tier"), on_delete=models.PROTECT, related_name="+"
    )
    amount_added = money_field(_("qualifying spend added"))
    undone_by = models.ForeignKey(
        Refund,
        verbose_name=_("taken back by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tier_awards_undone",
    )

    class Meta:
        verbose_name = _("tier given by a promotion")
        verbose_name_plural = _("tiers given by promotions")
        ordering = ["receipt_id", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_added__gte=0), name="receipt_tier_award_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt_id}: {self.from_tier_id or '-'} -> {self.to_tier_id}"
