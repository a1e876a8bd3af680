"""Customer segments: named groups of customers that promotions and mailings address.

A segment's members are kept as rows, whoever fills them: a marketer by hand or from a list, or
a refresh that evaluates the segment's rule in SQL (``crm.segments``). The register reads only
the rows, so a segment of any size costs one indexed lookup per receipt, whatever its rule.
A refresh records who entered and who left (``SegmentMembershipChange``) and itself
(``SegmentRefresh``: when, how long, the size), which gives the size over time."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.errors import SegmentRuleError
from crm.validators import validate_code


class Segment(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual", _("filled by hand or from a list")
        RULES = "rules", _("by rules, refreshed")

    programme = models.ForeignKey(
        "loyalty.Programme",
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="segments",
    )
    code = models.CharField(_("code"), max_length=64, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    customers = models.ManyToManyField(
        "crm.Customer",
        verbose_name=_("customers"),
        through="SegmentMember",
        related_name="segments",
        blank=True,
    )
    kind = models.CharField(
        _("kind"),
        max_length=16,
        choices=Kind.choices,
        default=Kind.MANUAL,
        help_text=_(
            "By rules: the members are the customers the rule finds, refreshed every night and "
            "on demand. Filled by hand: never refreshed."
        ),
    )
    rule = models.JSONField(
        _("rule"),
        null=True,
        blank=True,
        help_text=_("Groups of conditions joined by AND / OR, each of which may be negated."),
    )
    size = models.PositiveIntegerField(
        _("size"), null=True, blank=True, editable=False, help_text=_("At the last refresh.")
    )
    refreshed_at = models.DateTimeField(_("refreshed"), null=True, blank=True, editable=False)
    refresh_ms = models.PositiveIntegerField(
        _("refresh took, ms"), null=True, blank=True, editable=False
    )
    refresh_error = models.TextField(
        _("refresh error"),
        blank=True,
        editable=False,
        help_text=_("Why the last refresh failed; the members stayed as they were."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="segment_code_unique"),
            models.CheckConstraint(
                condition=Q(kind="manual") | Q(rule__isnull=False),
                name="segment_rules_have_a_rule",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Check the rule of a rule segment (``crm.segments.rules.rule_clean``) and keep it in
        its canonical form; a manual segment keeps no rule."""
        from crm.segments.rules import rule_clean

        if self.kind != self.Kind.RULES:
            self.rule = None
            return
        if self.programme_id is None:
            return  # the programme's own error is shown
        try:
            self.rule = rule_clean(self.rule, programme_id=self.programme_id, segment_id=self.pk)
        except SegmentRuleError as exc:
            raise ValidationError({"rule": ValidationError(str(exc), code=exc.code)}) from exc

    @property
    def is_refreshed(self) -> bool:
        return self.kind == self.Kind.RULES


class SegmentMember(models.Model):
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="members"
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="segment_memberships",
    )
    added_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        constraints = [
            models.UniqueConstraint(fields=["customer", "segment"], name="segment_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.customer_id}"


class SegmentRefresh(models.Model):
    """One refresh of a rule segment: when it ran, how long it took, the size it found and how
    many entered and left. Its rows are the segment's size over time. A failed refresh keeps
    its error here and changes no member."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("nightly schedule")
        STAFF = "staff", _("on demand")

    class Mode(models.TextChoices):
        FULL = "full", _("full")
        INCREMENTAL = "incremental", _("incremental")

    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="refreshes"
    )
    trigger = models.CharField(
        _("started by"), max_length=16, choices=Trigger.choices, default=Trigger.STAFF
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff user"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    as_of = models.DateTimeField(
        _("evaluated as of"), help_text=_("Windows such as the last 30 days end here.")
    )
    took_ms = models.PositiveIntegerField(_("took, ms"), default=0)
    size = models.PositiveIntegerField(_("size"), null=True, blank=True)
    entered = models.PositiveIntegerField(_("entered"), default=0)
    left = models.PositiveIntegerField(_("left"), default=0)
    error = models.TextField(_("error"), blank=True)
    mode = models.CharField(
        _("mode"),
        max_length=16,
        choices=Mode.choices,
        default=Mode.FULL,
        help_text=_(
            "Full: every customer evaluated. Incremental: only those whose data changed since "
            "the previous refresh (a rule no condition of which depends on the passing time)."
        ),
    )
    evaluated = models.PositiveIntegerField(
        _("customers evaluated"),
        null=True,
        blank=True,
        help_text=_("Of an incremental refresh: the customers whose data changed."),
    )
    rule_digest = models.CharField(
        _("rule fingerprint"),
        max_length=64,
        blank=True,
        help_text=_(
            "SHA-256 of the rule evaluated: an incremental refresh follows one of the same rule."
        ),
    )

    class Meta:
        verbose_name = _("segment refresh")
        verbose_name_plural = _("segment refreshes")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["segment", "-started_at"], name="segment_refresh_idx")]

    def __str__(self) -> str:
        return f"{self.segment_id} @ {self.started_at:%Y-%m-%d %H:%M}"


class SegmentMembershipChange(models.Model):
    """A customer entered or left a segment, at a refresh: the membership's history."""

    class Change(models.TextChoices):
        ENTERED = "entered", _("entered")
        LEFT = "left", _("left")

    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        on_delete=models.CASCADE,
        related_name="membership_changes",
    )
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="segment_changes",
    )
    refresh = models.ForeignKey(
        SegmentRefresh,
        verbose_name=_("refresh"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="changes",
    )
    change = models.CharField(_("change"), max_length=8, choices=Change.choices)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("segment membership change")
        verbose_name_plural = _("segment membership changes")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["segment", "at"], name="segment_change_segment_idx"),
            models.Index(fields=["customer", "at"], name="segment_change_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.customer_id} {self.change}"
