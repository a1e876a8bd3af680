"""Coupons (``promotions.coupons``): the coupons purchases and occasions earn, series of coupons,
the coupons and their uses on receipts, and the prize tables of scratch series."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.validators import CODE_ALPHABET, validate_code
from promotions.models.promotion import Promotion

COUPON_ALPHABET = CODE_ALPHABET


class CouponGrant(models.Model):
    """A coupon a confirmed purchase earned for the customer's next purchase: the hook the
    coupon series fill (issue the code, tell the customer). A cancel withdraws it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("to issue")
        ISSUED = "issued", pgettext_lazy("coupon status", "issued")
        WITHDRAWN = "withdrawn", _("withdrawn")

    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_grants",
    )
    firing = models.ForeignKey(
        "promotions.TriggerFiring",
        verbose_name=_("occasion"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_grants",
        help_text=_("The occasion that earned it, for a promotion not started by a purchase."),
    )
    promotion = models.ForeignKey(
        Promotion, verbose_name=_("promotion"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="coupon_grants",
    )
    series = models.CharField(_("coupon series"), max_length=64)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    code = models.CharField(_("coupon code"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon earned")
        verbose_name_plural = _("coupons earned")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(receipt__isnull=False) | Q(firing__isnull=False),
                name="coupon_grant_has_a_cause",
            )
        ]

    def __str__(self) -> str:
        return f"{self.series} → {self.customer_id}"


class CouponSeries(models.Model):
    """A series of coupons (mechanics.md item 16): one code for everyone (mass) or a unique
    code per coupon (personal), how often a coupon may be used, and when its life starts and
    ends. Its ``code`` is what a promotion's "coupon for the next purchase" reward names."""

    class Kind(models.TextChoices):
        MASS = "mass", _("one code for everyone")
        PERSONAL = "personal", _("a unique code per coupon")

    class LifeStart(models.TextChoices):
        ISSUE = "issue", _("when issued")
        DATE = "date", _("on a date")
        AFTER_DAYS = "after_days", _("N days after the issue")
        NEXT_DAY = "next_day", _("at the start of the next day")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="coupon_series",
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_series",
        help_text=_("Empty: the whole programme."),
    )
    code = models.CharField(
        _("series code"),
        max_length=64,
        validators=[validate_code],
        help_text=_("What a “coupon for the next purchase” reward names."),
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("codes"), max_length=16, choices=Kind.choices, default=Kind.PERSONAL)
    mass_code = models.CharField(
        _("the code for everyone"),
        max_length=32,
        blank=True,
        help_text=_("For one code for everyone, e.g. SPRING2027."),
    )
    prefix = models.CharField(
        _("prefix of the unique codes"), max_length=8, blank=True, help_text=_("E.g. HAPPY-.")
    )
    code_length = models.PositiveSmallIntegerField(
        _("length of the unique codes"),
        default=10,
        validators=[MinValueValidator(6), MaxValueValidator(20)],
        help_text=_("Characters after the prefix; longer when many coupons are issued."),
    )
    uses_per_coupon = models.PositiveIntegerField(
        _("uses per coupon"),
        null=True,
        blank=True,
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("1: single-use. Empty: any number."),
    )
    uses_per_customer = models.PositiveIntegerField(
        _("uses per customer"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    uses_total = models.PositiveIntegerField(
        _("uses in total"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    life_start = models.CharField(
        _("life starts"), max_length=16, choices=LifeStart.choices, default=LifeStart.ISSUE
    )
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    start_after_days = models.PositiveSmallIntegerField(
        _("starts after, days"), null=True, blank=True
    )
    lifetime_days = models.PositiveIntegerField(
        _("valid for, days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("From the start of its life. Empty: until the series ends."),
    )
    ends_at = models.DateTimeField(
        _("series ends"), null=True, blank=True, help_text=_("No coupon is valid after it.")
    )
    returned_on_refund = models.BooleanField(
        _("given back by a refund"),
        default=True,
        help_text=_("A cancel or a full refund of the purchase makes a used coupon valid again."),
    )
    is_scratch = models.BooleanField(
        _("scratch coupons"),
        default=False,
        help_text=_(
            "Each coupon's prize is drawn at issue from the series' prize table and stays "
            "hidden until the coupon is used: the prize promotion applies, not the others."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon series")
        verbose_name_plural = _("coupon series")
        ordering = ["programme_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="coupon_series_code_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.kind == self.Kind.MASS and not self.mass_code:
            errors["mass_code"] = _("Give the code everyone uses.")
        # A code for everyone is chosen by the marketer (SPRING2027): any Latin letter or
        # digit; only the drawn unique codes avoid the characters read alike.
        if self.mass_code and not all(
            c.isascii() and (c.isalnum() or c == "-") for c in self.mass_code
        ):
            errors["mass_code"] = _("Use Latin letters, digits and hyphens.")
        elif self.mass_code and self._mass_code_taken():
            errors["mass_code"] = _("This code is already used by another coupon series.")
        if self.life_start == self.LifeStart.DATE and self.starts_on is None:
            errors["starts_on"] = _("Give the date the coupons' life starts.")
        if self.life_start == self.LifeStart.AFTER_DAYS and not self.start_after_days:
            errors["start_after_days"] = _("Give the number of days after the issue.")
        if errors:
            raise ValidationError(errors)

    def _mass_code_taken(self) -> bool:
        code = self.mass_code.upper()
        others = CouponSeries.objects.exclude(pk=self.pk)
        return (
            others.filter(kind=self.Kind.MASS, mass_code__iexact=code).exists()
            or Coupon.objects.filter(code=code).exclude(series_id=self.pk).exists()
        )


class Coupon(models.Model):
    """One coupon of a series: its code, whose it is, when it is valid, how often it was used."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("coupon status", "active")
        USED = "used", _("used up")
        WITHDRAWN = "withdrawn", _("withdrawn")

    series = models.ForeignKey(
        CouponSeries, verbose_name=_("series"), on_delete=models.PROTECT, related_name="coupons"
    )
    code = models.CharField(_("code"), max_length=32, unique=True)
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupons",
        help_text=_("Empty: anyone who has the code."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    uses = models.PositiveIntegerField(_("uses"), default=0)
    held_for = models.CharField(
        _("held for"),
        max_length=100,
        blank=True,
        help_text=_("The terminal and receipt a calculate with a hold reserved it for."),
    )
    held_until = models.DateTimeField(_("held until"), null=True, blank=True)
    prize = models.ForeignKey(
        Promotion,
        verbose_name=_("hidden prize"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Scratch coupons: the promotion drawn for it, shown once it is used."),
    )
    grant = models.OneToOneField(
        CouponGrant,
        verbose_name=_("earned by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon",
    )
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-issued_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="coupon_valid_until_after_from",
            )
        ]

    def __str__(self) -> str:
        return self.code


class CouponRedemption(models.Model):
    """A coupon used on a confirmed receipt; a cancel or a full refund gives it back (marks
    ``returned_at``) when its series says so."""

    coupon = models.ForeignKey(
        Coupon, verbose_name=_("coupon"), on_delete=models.PROTECT, related_name="redemptions"
    )
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.PROTECT,
        related_name="coupon_redemptions",
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_redemptions",
    )
    redeemed_at = models.DateTimeField(_("used"), default=timezone.now)
    returned_at = models.DateTimeField(_("given back"), null=True, blank=True)

    class Meta:
        verbose_name = _("coupon used")
        verbose_name_plural = _("coupons used")
        ordering = ["-redeemed_at"]
        constraints = [
            models.UniqueConstraint(fields=["coupon", "receipt"], name="coupon_once_per_receipt")
        ]

    def __str__(self) -> str:
        return f"{self.coupon_id} @ {self.receipt_id}"


class ScratchPrize(models.Model):
    """A row of a scratch series' prize table: a promotion (its reward is the prize) and its
    weight; a coupon's prize is drawn at issue with chances in proportion to the weights."""

    series = models.ForeignKey(
        CouponSeries, verbose_name=_("series"), on_delete=models.CASCADE, related_name="prizes"
    )
    promotion = models.ForeignKey(
        Promotion,
        verbose_name=_("prize promotion"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("A promotion that requires a coupon of this series."),
    )
    weight = models.PositiveIntegerField(_("weight"), default=1, validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = _("scratch prize")
        verbose_name_plural = _("scratch prizes")
        constraints = [
            models.UniqueConstraint(fields=["series", "promotion"], name="scratch_prize_once"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="scratch_prize_weight"),
        ]

    def __str__(self) -> str:
        return f"{self.promotion} × {self.weight}"

    def clean(self) -> None:
        if (
            self.promotion_id
            and self.series_id
            and self.promotion.coupon_series_id != self.series_id
        ):
            raise ValidationError(
                {"promotion": _("The prize promotion must require a coupon of this series.")}
            )
