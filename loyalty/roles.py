"""Staff roles as Django groups.

Each role is a list of permission patterns, ``app_label.codename`` with shell wildcards
(``promotions.*``, ``crm.view_*``); a pattern starting with ``-`` takes permissions away again.
``roles_sync`` creates the groups after every ``migrate`` (and ``manage.py roles_sync``):
it adds what a role lacks and, by default, never removes what an administrator added to a
group by hand; ``reset=True`` makes every group exactly its definition.

Partner staff are limited to their partner's objects by ``loyalty.isolation`` whatever their
permissions; the auditor's role is read-only by construction (view permissions only).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from django.contrib.auth.models import Group, Permission
from django.utils.translation import gettext_lazy as _

COALITION_ADMIN = "Coalition administrator"
MARKETER = "Marketer"
OPERATOR = "Operator"
SUPERVISOR = "Supervisor"
PARTNER_STAFF = "Partner staff"
AUDITOR = "Auditor"

_OPERATOR = [
    "crm.view_*",
    "crm.add_customer",
    "crm.change_customer",
    "crm.*_consent",
    "loyalty.view_*",
    "-audit.view_auditevent",
    "loyalty.change_card",
    "loyalty.change_giftcertificate",
    "promotions.view_coupon",
    "promotions.view_couponredemption",
    "promotions.view_promotion",
    "communications.view_message",
    "contactcenter.view_*",
    "-contactcenter.view_contacts",  # masked unless working on the customer's ticket
    "contactcenter.use_console",
    "contactcenter.add_adjustment",
    "contactcenter.add_ticket",
    "contactcenter.change_ticket",
    "contactcenter.*_ticketcomment",
    "contactcenter.*_ticketattachment",
]

ROLES: dict[str, dict] = {
    COALITION_ADMIN: {
        "description": _("Everything in the back office, for the coalition's administrators."),
        "permissions": ["*"],
    },
    MARKETER: {
        "description": _(
            "Promotions, coupons, segments, back-tests and reports; the catalogue; reads "
            "customers and receipts."
        ),
        "permissions": [
            "promotions.*",
            "reports.*",
            "crm.*_segment",
            "crm.view_*",
            "loyalty.view_*",
            "-audit.view_auditevent",
            "loyalty.*_product",
            "loyalty.*_productlist",
            "loyalty.*_category",
            "loyalty.*_brand",
            "loyalty.*_certificateseries",
            "loyalty.*_tier",
            "loyalty.*_counter",
            "communications.view_message",
        ],
    },
    OPERATOR: {
        "description": _(
            "The contact centre: tickets, customers' profiles and cards, adjustments that "
            "wait for a supervisor above the threshold."
        ),
        "permissions": _OPERATOR,
    },
    SUPERVISOR: {
        "description": _(
            "An operator who also approves adjustments, sees contacts unmasked, anonymises "
            "customers and configures queues, categories and service levels."
        ),
        "permissions": [*_OPERATOR, "contactcenter.*", "crm.*_customer"],
    },
    PARTNER_STAFF: {
        "description": _(
            "One partner's staff: their stores, terminals, receipts, promotions, catalogue "
            "and reports, never another partner's."
        ),
        "permissions": [
            "loyalty.*_store",
            "loyalty.*_terminal",
            "loyalty.*_terminalapikey",
            "loyalty.view_receipt",
            "loyalty.view_refund",
            "loyalty.*_product",
            "loyalty.*_productlist",
            "loyalty.add_dataimport",
            "loyalty.view_dataimport",
            "loyalty.view_partner",
            "loyalty.view_programme",
            "loyalty.view_currency",
            "loyalty.view_tier",
            "loyalty.view_counter",
            "loyalty.view_brand",
            "loyalty.view_category",
            "loyalty.view_customerevent",
            "loyalty.view_certificateseries",
            "promotions.*",
            "-promotions.*_lifecyclerun",
            "reports.*",
            "crm.view_segment",
        ],
    },
    AUDITOR: {
        "description": _("Reads everything, the audit trail included; changes nothing."),
        "permissions": ["*.view_*"],
    },
}


def _label(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def role_permissions(patterns: list[str], every: list[Permission]) -> set[int]:
    """The ids of the permissions the patterns give, in order (``-`` patterns take away)."""
    chosen: set[int] = set()
    for pattern in patterns:
        negative = pattern.startswith("-")
        wanted = pattern.lstrip("-")
        matched = {p.pk for p in every if fnmatchcase(_label(p), wanted)}
        chosen = chosen - matched if negative else chosen | matched
    return chosen


def unmatched_patterns() -> dict[str, list[str]]:
    """Patterns that match no permission, per role (a typo, or a model that is gone)."""
    labels = [_label(p) for p in Permission.objects.select_related("content_type")]
    return {
        role: missing
        for role, spec in ROLES.items()
        if (
            missing := [
                pattern
                for pattern in spec["permissions"]
                if not any(fnmatchcase(label, pattern.lstrip("-")) for label in labels)
            ]
        )
    }


def roles_sync(*, reset: bool = False) -> dict[str, int]:
    """Create or complete the role groups; returns how many permissions each group has."""
    every = list(Permission.objects.select_related("content_type"))
    counts = {}
    for name, spec in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = role_permissions(spec["permissions"], every)
        if reset:
            group.permissions.set(wanted)
        else:
            group.permissions.add(*wanted)
        counts[name] = group.permissions.count()
    return counts


def on_post_migrate(sender, using="default", **kwargs) -> None:
    """After migrate (and a test database flush), every role exists with its permissions."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():  # permissions of apps migrated after ``sender``
        create_permissions(app_config, verbosity=0, using=using)
    roles_sync()
