"""Warnings for the marketer when a promotion is saved: combinations the engine allows but that
are rarely what was meant. The save still happens; the admin shows them as warnings.

- Two active promotions that can meet on one receipt (``promotions.overlaps.can_meet``: both
  started by a purchase, periods, partner, stores, channels, days, hours and receipt amount
  ranges that meet), outside any compatibility group: both apply, one after the other. A
  promotion and the one whose points it multiplies are meant to apply together and are not
  reported; occasion promotions and promotions for amounts that exclude each other ("under
  500" and "500 or more") never meet.
- An exclusive promotion in a group of mode ``all``: the group lets its members add up, but
  the exclusive flag still stops every lower-priority promotion on the lines it rewards.
- A points multiplier whose target promotion is not active: it gives nothing.
- A reward on the customer's favourite products when the programme keeps none (its number of
  favourites is 0), or when no customer has any yet (the nightly job has not ranked them).
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.models import FavouriteProduct
from promotions.models import CompatibilityGroup, Promotion, Reward
from promotions.models.promotion import Trigger
from promotions.overlaps import can_meet, meeting_queryset

NAMED_AT_MOST = 5


def promotion_warnings(promotion: Promotion) -> list[str]:
    """What the marketer should know about ``promotion`` as saved (with its rewards)."""
    return [
        *_overlapping_without_group(promotion),
        *_exclusive_in_group_of_all(promotion),
        *_multiplying_inactive(promotion),
        *_favourites_missing(promotion),
    ]


def _overlapping_without_group(promotion: Promotion) -> list[str]:
    active = Promotion.Status.ACTIVE
    if promotion.status != active or promotion.group_id is not None:
        return []
    if promotion.trigger != Trigger.RECEIPT:
        return []
    others = Promotion.objects.filter(
        programme_id=promotion.programme_id,
        status=active,
        group__isnull=True,
        trigger=Trigger.RECEIPT,
    ).exclude(pk=promotion.pk)
    if promotion.partner_id is not None:
        others = others.filter(Q(partner__isnull=True) | Q(partner_id=promotion.partner_id))
    if promotion.ends_at is not None:
        others = others.filter(starts_at__lt=promotion.ends_at)
    others = others.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=promotion.starts_at))
    multiplier = Reward.Kind.POINTS_MULTIPLIER
    others = others.exclude(
        pk__in=promotion.rewards.filter(kind=multiplier).values("multiplier_of")
    ).exclude(
        pk__in=Reward.objects.filter(kind=multiplier, multiplier_of=promotion).values("promotion")
    )
    names = [
        other.name
        for other in meeting_queryset(others.order_by("-priority", "name"))
        if can_meet(promotion, other)
    ]
    if not names:
        return []
    listed = ", ".join(_("“%(name)s”") % {"name": name} for name in names[:NAMED_AT_MOST])
    if len(names) > NAMED_AT_MOST:
        listed += " " + _("and %(count)d more") % {"count": len(names) - NAMED_AT_MOST}
    return [
        ngettext(
            "“%(name)s” runs at the same time as the active promotion %(others)s, and neither "
            "is in a compatibility group: both may reward the same lines. If only one of them "
            "should, put both in one compatibility group (mode “first” or “best”).",
            "“%(name)s” runs at the same time as the active promotions %(others)s, and none of "
            "them is in a compatibility group: they may all reward the same lines. If only one "
            "of them should, put them in one compatibility group (mode “first” or “best”).",
            len(names),
        )
        % {"name": promotion.name, "others": listed}
    ]


def _exclusive_in_group_of_all(promotion: Promotion) -> list[str]:
    if not promotion.exclusive or promotion.group_id is None:
        return []
    group = promotion.group
    if group.mode != CompatibilityGroup.Mode.ALL:
        return []
    return [
        _(
            "“%(name)s” is exclusive and in the group “%(group)s”, whose mode is “all”. The "
            "group lets its promotions add up, but the exclusive flag still stops every "
            "lower-priority promotion, of this group or any other, on the lines it rewards. "
            "Untick “exclusive” if they should add up."
        )
        % {"name": promotion.name, "group": group.name}
    ]


def _multiplying_inactive(promotion: Promotion) -> list[str]:
    targets = {
        reward.multiplier_of_id: reward.multiplier_of
        for reward in promotion.rewards.filter(kind=Reward.Kind.POINTS_MULTIPLIER)
        .exclude(multiplier_of__status=Promotion.Status.ACTIVE)
        .select_related("multiplier_of")
        .order_by("pk")
    }
    return [
        _(
            "“%(name)s” multiplies the points of “%(target)s”, whose status is “%(status)s”: "
            "the multiplier gives nothing until that promotion is active."
        )
        % {"name": promotion.name, "target": target.name, "status": target.get_status_display()}
        for target in targets.values()
    ]


def _favourites_missing(promotion: Promotion) -> list[str]:
    if not promotion.rewards.filter(favourites_only=True).exists():
        return []
    programme = promotion.programme
    if programme.favourites_count == 0:
        return [
            _(
                "“%(name)s” rewards only the customer's favourite products, but the programme "
                "“%(programme)s” keeps none (favourite products per customer: 0): the reward "
                "gives nothing. Set the number of favourites on the programme."
            )
            % {"name": promotion.name, "programme": programme.name}
        ]
    if not FavouriteProduct.objects.filter(programme=programme).exists():
        return [
            _(
                "“%(name)s” rewards only the customer's favourite products, and no customer of "
                "the programme “%(programme)s” has any yet: they are ranked every night from "
                "the purchases of the last %(days)d days. Until then the reward gives nothing."
            )
            % {
                "name": promotion.name,
                "programme": programme.name,
                "days": programme.favourites_window_days,
            }
        ]
    return []
