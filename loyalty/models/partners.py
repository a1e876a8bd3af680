"""The coalition: programmes, partners, their stores and cash registers (terminals)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey

from loyalty.money import DECIMAL_PLACES, MAX_DIGITS
from loyalty.validators import validate_code, validate_tax_id, validate_timezone

# Ten years: a longer review period is a typo, not a policy.
TIER_REVIEW_DAYS_MAX = 3660
# A reward on "your favourite products" means a handful of them; more is no longer personal.
FAVOURITES_COUNT_MAX = 50


class Programme(models.Model):
    """A bonus programme: the coalition's own, or one a single partner runs for itself.

    Holds the settings that pos-api.md and mechanics.md call "programme settings".
    """

    class RefundShortfallPolicy(models.TextChoices):
        DEBT = "debt", _("leave a debt on the account")
        CAP = "cap", _("take back what is left and record the shortfall")

    class TierDowngrade(models.TextChoices):
        ONE = "one", _("one tier down")
        LOWEST = "lowest", _("down to the entry tier")

    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("owner partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="own_programmes",
        help_text=_("Empty for the coalition programme shared by all partners."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    max_spend_percent = models.DecimalField(
        _("max share of a receipt paid with points, %"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("50.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Of the amount left after discounts."),
    )
    min_money_payment = models.DecimalField(
        _("minimum money payment per receipt"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Discounts and points together never reduce a receipt below this."),
    )
    hold_minutes = models.PositiveIntegerField(
        _("hold lifetime, minutes"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text=_("How long calculate with hold=true reserves points and coupons."),
    )
    refund_shortfall_policy = models.CharField(
        _("when a refund takes back points already spent"),
        max_length=8,
        choices=RefundShortfallPolicy.choices,
        default=RefundShortfallPolicy.CAP,
    )
    offline_spend_cap = models.DecimalField(
        _("max points an offline receipt may spend"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("0 means offline receipts only earn."),
    )
    offline_window_days = models.PositiveIntegerField(
        _("offline upload window, days"), default=30, validators=[MinValueValidator(1)]
    )
    max_receipt_lines = models.PositiveIntegerField(
        _("max lines per receipt"), default=1000, validators=[MinValueValidator(1)]
    )
    tier_review_days = models.PositiveIntegerField(
        _("tier review period, days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(TIER_REVIEW_DAYS_MAX)],
        help_text=_(
            "Empty: tiers are never lowered. Otherwise a nightly job lowers the tier of a "
            "customer who has been in it at least this many days and made no purchase in the "
            "last this many days (or spent less than the minimum below)."
        ),
    )
    tier_review_min_spend = models.DecimalField(
        _("minimum spend in the review period, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "Paid in money, less what was refunded. 0: only a period without any purchase "
            "lowers the tier."
        ),
    )
    tier_downgrade = models.CharField(
        _("the review lowers the tier"),
        max_length=8,
        choices=TierDowngrade.choices,
        default=TierDowngrade.ONE,
    )
    certificate_payment_earns = models.BooleanField(
        _("money paid with gift certificates earns points"),
        default=True,
        help_text=_(
            "On: the part of a receipt paid with a gift card or certificate earns points as "
            "money does. Off: it earns nothing. Selling a gift card never earns."
        ),
    )
    favourites_count = models.PositiveSmallIntegerField(
        _("favourite products per customer"),
        default=3,
        validators=[MaxValueValidator(FAVOURITES_COUNT_MAX)],
        help_text=_(
            "How many of each customer's top products by money paid count as their "
            "favourites, for rewards on “only the customer's favourite products”. "
            "0: the programme keeps no favourites."
        ),
    )
    favourites_window_days = models.PositiveIntegerField(
        _("favourites counted over the last, days"),
        default=180,
        validators=[MinValueValidator(1), MaxValueValidator(TIER_REVIEW_DAYS_MAX)],
        help_text=_("Purchases older than this do not count. Recomputed every night."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_spend_percent__gte=0) & Q(max_spend_percent__lte=100),
                name="programme_max_spend_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(min_money_payment__gte=0) & Q(offline_spend_cap__gte=0),
                name="programme_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(hold_minutes__gte=1), name="programme_hold_positive"
            ),
            models.CheckConstraint(
                condition=Q(tier_review_days__isnull=True) | Q(tier_review_days__gte=1),
                name="programme_tier_review_days_positive",
            ),
            models.CheckConstraint(
                condition=Q(tier_review_min_spend__gte=0),
                name="programme_tier_review_min_spend_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(favourites_window_days__gte=1),
                name="programme_favourites_window_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.tier_review_days is None and self.tier_review_min_spend:
            raise ValidationError(
                {
                    "tier_review_days": ValidationError(
                        _(
                            "Set the review period: the minimum spend is counted over its "
                            "last days, and without a period tiers are never lowered."
                        ),
                        code="tier_review_days_missing",
                    )
                }
            )


class Partner(models.Model):
    """A coalition member: a company whose stores issue and accept the programme's points."""

    class Trade(models.TextChoices):
        HYPERMARKET = "hypermarket", _("hypermarket")
        SUPERMARKET = "supermarket", _("supermarket")
        DIY = "diy", _("DIY and home improvement")
        SPORTS = "sports", _("sports goods")
        PHARMACY = "pharmacy", _("pharmacy")
        CLINIC = "clinic", _("clinic")
        ISP = "isp", _("internet provider")
        AMUSEMENT_PARK = "amusement_park", _("amusement park")
        NIGHT_CLUB = "night_club", _("night club")
        CINEMA = "cinema", _("cinema")
        CAFE = "cafe", _("cafe or restaurant")
        FUEL = "fuel", _("fuel station")
        ELECTRONICS = "electronics", _("electronics")
        FASHION = "fashion", _("clothing and shoes")
        BOOKS = "books", _("books")
        OTHER = "other", _("other")

    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("brand name"), max_length=200)
    legal_name = models.CharField(_("legal name"), max_length=300)
    tax_id = models.CharField(
        _("tax id (INN)"), max_length=12, unique=True, validators=[validate_tax_id]
    )
    trade = models.CharField(_("trade"), max_length=32, choices=Trade.choices, default=Trade.OTHER)
    point_price = models.DecimalField(
        _("settlement price of a point, RUB"),
        max_digits=MAX_DIGITS,
        decimal_places=4,
        default=Decimal("1.0000"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "What the partner pays the coalition per point it issues, and is paid per "
            "point its customers spend with it."
        ),
    )
    contact_email = models.EmailField(_("contact email"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    joined_at = models.DateField(_("joined the coalition"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(point_price__gte=0), name="partner_point_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Store(models.Model):
    """A point of sale of a partner: a shop, a webshop or a mobile app."""

    class Channel(models.TextChoices):
        STORE = "store", _("store")
        WEBSHOP = "webshop", _("webshop")
        APP = "app", _("mobile app")

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.PROTECT, related_name="stores"
    )
    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.STORE
    )
    city = models.CharField(_("city"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        default="Europe/Moscow",
        validators=[validate_timezone],
        help_text=_("Promotion hours and days are read in this store's local time."),
    )
    is_active = models.BooleanField(_("open"), default=True)
    opened_at = models.DateField(_("opened"), null=True, blank=True)
    closed_at = models.DateField(_("closed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["partner__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True)
                | Q(opened_at__isnull=True)
                | Q(closed_at__gte=models.F("opened_at")),
                name="store_closed_after_opened",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.name}: {self.name}" if self.partner_id else self.name


class Terminal(models.Model):
    """A cash register, webshop backend or app backend that calls the POS API with its keys."""

    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="terminals"
    )
    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200, blank=True)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("An inactive terminal's calls are refused (403).")
    )
    last_seen_at = models.DateTimeField(_("last call"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def partner(self) -> Partner:
        return self.store.partner


class TerminalAPIKey(AbstractAPIKey):
    """A hashed API key of a terminal. Several may be live at once, for rotation."""

    terminal = models.ForeignKey(
        Terminal, verbose_name=_("terminal"), on_delete=models.CASCADE, related_name="api_keys"
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("terminal API key")
        verbose_name_plural = _("terminal API keys")


class StaffProfile(models.Model):
    """What the back office knows of a staff user beyond Django's user: the partner they work
    for. Partner staff see and change only their own partner's objects in the admin."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="staff_profile",
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        help_text=_("Empty: coalition staff, who see every partner."),
    )
    customer = models.OneToOneField(
        "crm.Customer",
        verbose_name=_("as a member"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="staff_profile",
        help_text=_("The employee's own membership: peer thanks are given and received on it."),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return str(self.user)


def staff_partner_id(user) -> int | None:
    """The partner a staff user is limited to, or None for coalition staff (and superusers)."""
    if user is None or not user.is_authenticated or user.is_superuser:
        return None
    # Asked many times a page (every permission check): a missing profile is remembered too.
    if not hasattr(user, "_staff_partner_id"):
        profile = getattr(user, "staff_profile", None)
        user._staff_partner_id = profile.partner_id if profile is not None else None
    return user._staff_partner_id
