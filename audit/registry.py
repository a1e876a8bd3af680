"""Which models the audit trail covers, and why the others are left out.

Issue #7 asks for every change to promotions, cards, customers, terminals and settings. Each
model here is in exactly one of the two lists: ``tests/loyalty/test_audit_registry.py`` fails
for a model registered in the admin that is in neither, so a new model is audited or left out
by someone's decision, with the reason written down. Labels are strings so that this module
imports nothing: the outer apps' models are looked up when ``audit.trail.install()`` runs.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from audit.trail import AuditPolicy

PLAIN = AuditPolicy()

AUDITED: dict[str, AuditPolicy] = {
    # promotions and their parts
    "promotions.Promotion": PLAIN,
    "promotions.Condition": PLAIN,
    "promotions.Reward": PLAIN,
    "promotions.SpendRule": PLAIN,
    "promotions.CompatibilityGroup": PLAIN,
    "promotions.ProductSet": PLAIN,
    "promotions.CouponSeries": PLAIN,
    "promotions.ScratchPrize": PLAIN,
    # the ticket list is the draw's input, large and derived from the receipts
    "promotions.Draw": AuditPolicy(exclude=frozenset({"ticket_list"})),
    # cards (activation at the first purchase is recorded once per card, a real status change)
    "loyalty.Card": PLAIN,
    "loyalty.CardBatch": PLAIN,
    # customers: personal values are masked, so the trail never holds what anonymising erases
    "crm.Customer": AuditPolicy(
        personal=frozenset(
            {
                "first_name",
                "middle_name",
                "last_name",
                "phone",
                "email",
                "birth_date",
                "gender",
                "comment",
            }
        )
    ),
    "crm.Consent": PLAIN,
    "crm.ProfileAnswer": AuditPolicy(
        personal=frozenset(
            {"value_text", "value_number", "value_date", "value_bool", "value_choices"}
        )
    ),
    "crm.FamilyMember": AuditPolicy(
        personal=frozenset({"name", "birth_date", "gender", "species"})
    ),
    "crm.Car": AuditPolicy(personal=frozenset({"make", "model", "year", "plate"})),
    "crm.MemorableDate": AuditPolicy(personal=frozenset({"title", "date"})),
    # terminals: the POS API stamps last_seen_at/last_used_at on every call
    "loyalty.Terminal": AuditPolicy(exclude=frozenset({"last_seen_at"})),
    "loyalty.TerminalAPIKey": AuditPolicy(
        exclude=frozenset({"last_used_at"}), identify_by="prefix"
    ),
    # settings
    "loyalty.Programme": PLAIN,
    "loyalty.Partner": PLAIN,
    "loyalty.Store": PLAIN,
    "loyalty.Currency": PLAIN,
    "loyalty.Tier": PLAIN,
    "loyalty.Counter": PLAIN,
    "loyalty.EventType": PLAIN,
    "loyalty.CertificateSeries": PLAIN,
    "loyalty.ProductList": PLAIN,
    "loyalty.StaffProfile": PLAIN,
    "loyalty.RfmScheme": PLAIN,
    "loyalty.RfmCell": PLAIN,
    "crm.ProfileQuestion": PLAIN,
    "crm.ProfileQuestionChoice": PLAIN,
    "crm.Segment": PLAIN,
    "contactcenter.TicketCategory": PLAIN,
    "contactcenter.Queue": PLAIN,
    "contactcenter.SLAPolicy": PLAIN,
    "contactcenter.WorkingCalendar": PLAIN,
    "contactcenter.WorkingHours": PLAIN,
    "contactcenter.Holiday": PLAIN,
    "contactcenter.AdjustmentPolicy": PLAIN,
    # beat stamps its runs on the task row
    "django_celery_beat.PeriodicTask": AuditPolicy(
        exclude=frozenset({"last_run_at", "total_run_count"})
    ),
    "django_celery_beat.IntervalSchedule": PLAIN,
    "django_celery_beat.CrontabSchedule": PLAIN,
    "django_celery_beat.SolarSchedule": PLAIN,
    "django_celery_beat.ClockedSchedule": PLAIN,
    # staff accounts and roles: who may do what is a setting too (the password hash is a secret)
    "auth.User": AuditPolicy(exclude=frozenset({"last_login"})),
    "auth.Group": PLAIN,
}

LEDGER = _("append-only ledger: rows are never changed, each one names its cause and actor")
HOT_PATH = _(
    "written by the processing of every purchase; its changes are the ledger's, recorded there"
)
LOG = _("a log of what happened: written once by the system, nothing to change")
JOB = _("an import or calculation job: the rows it writes are audited, the job is its own record")

NOT_AUDITED: dict[str, str] = {
    "audit.AuditEvent": _("the audit trail itself (append-only)"),
    "loyalty.Posting": LEDGER,
    "loyalty.LedgerEntry": LEDGER,
    "loyalty.CertificateEntry": LEDGER,
    "loyalty.Account": HOT_PATH,
    "loyalty.Lot": HOT_PATH,
    "loyalty.Hold": HOT_PATH,
    "loyalty.Receipt": HOT_PATH,
    "loyalty.Refund": HOT_PATH,
    "loyalty.TierMembership": HOT_PATH,
    "loyalty.CounterValue": HOT_PATH,
    "loyalty.GiftCertificate": _(
        "its balance moves at the till and every movement is a certificate ledger entry; "
        "the series (the setting) is audited"
    ),
    "promotions.Coupon": _(
        "issued and redeemed by processing; redemptions are logged, the series is audited"
    ),
    "promotions.CouponRedemption": LOG,
    "crm.ContactVerification": _(
        "a one-time code's log (its secret only hashed); what it changes, the customer's "
        "phone_verified / email_verified, is recorded on the customer"
    ),
    "crm.DuplicateSuggestion": _(
        "suggestions a job writes; each keeps who decided it and when, and a merge is "
        "recorded on the customers"
    ),
    "promotions.TriggerFiring": LOG,
    "promotions.LifecycleRun": LOG,
    "loyalty.TierChange": LOG,
    "loyalty.CustomerEvent": LOG,
    "loyalty.PeerThanks": _("a points transfer between customers, posted to the ledger"),
    "loyalty.FavouriteProduct": _(
        "the customer's own choice of favourite products, made in the app; not a setting"
    ),
    "loyalty.Category": _("catalogue master data, imported in bulk from the partners' systems"),
    "loyalty.Brand": _("catalogue master data, imported in bulk from the partners' systems"),
    "loyalty.Product": _("catalogue master data, imported in bulk from the partners' systems"),
    "loyalty.CardImport": JOB,
    "loyalty.RfmRun": JOB,
    "loyalty.RfmRunStat": _("a run's aggregates, written once by the RFM job"),
    "loyalty.RfmRunMove": _("a run's aggregates, written once by the RFM job"),
    "loyalty.RfmScore": _("computed by the RFM job from the receipts, replaced at every run"),
    "loyalty.RfmCellChange": LOG,
    "loyalty.DataImport": JOB,
    "loyalty.SegmentImport": JOB,
    "reports.Backtest": JOB,
    "communications.Message": _(
        "the outbox: a log of messages sent; anonymising a customer scrubs their messages"
    ),
    "contactcenter.Ticket": _(
        "tickets keep their own history (ticket events) with author and time"
    ),
    "contactcenter.TicketEscalation": LOG,
    "contactcenter.Adjustment": _(
        "its request, approval and rejection are written to the trail as adjustment events "
        "with the reason, the amount and who decided"
    ),
}
