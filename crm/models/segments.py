"""Customer segments: named groups of customers that promotions and mailings address.

A segment's members are kept as rows, whoever fills them: a marketer by hand or from a list, or
a job that recomputes a dynamic segment (RFM and rules come on top). The register reads only
the rows, so a segment of any size costs one indexed lookup per receipt."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.validators import validate_code


class Segment(models.Model):
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
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="segment_code_unique")
        ]

    def __str__(self) -> str:
        return self.name


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
