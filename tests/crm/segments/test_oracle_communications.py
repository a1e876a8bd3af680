"""The oracle for the communication history conditions (``communications.segment_kinds``): for
random customers with random messages (channels, statuses, sent, opened and clicked moments,
promotions) and consents (never given, given, withdrawn, given again), and random rules
(nested AND / OR / NOT of those conditions with random parameters), the members the SQL finds
are exactly those a plain Python reading of the rule finds.

The window, the random windows and the rule shape come from test_oracle.py (imported, not
repeated). Runs on SQLite and on PostgreSQL (DATABASE_URL); each example's rows are rolled
back at its end.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from communications.models import Message
from crm.models import Consent, Customer
from crm.segments.compile import rule_members
from crm.segments.rules import rule_clean
from promotions.models import Promotion
from tests.crm.segments.test_oracle import EXAMPLES, World, leaf, some, windows
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ProgrammeFactory

pytestmark = pytest.mark.django_db
CHANNELS = ["sms", "email", "push", "viber", "telegram"]
MOMENTS = {
    "messages_received": "sent_at",
    "messages_opened": "opened_at",
    "messages_clicked": "clicked_at",
}
KINDS = [*MOMENTS, "unsubscribed"]


@pytest.fixture
def scaffold() -> dict:
    programme = ProgrammeFactory(code="oracle-messages")
    other = ProgrammeFactory(code="oracle-messages-other")
    return {
        "programme": programme,
        "promotions": [
            Promotion.objects.create(programme=programme, name=f"Oracle {n}") for n in range(2)
        ],
        "foreign": Promotion.objects.create(programme=other, name="Elsewhere"),
    }


# --- random rows ---------------------------------------------------------------------------


def _ago(draw, now: dt.datetime, label: str) -> dt.datetime:
    return now - dt.timedelta(minutes=draw(st.integers(0, 220 * 1440), label=label))


def build_world(data, sc: dict, now: dt.datetime) -> None:
    draw = data.draw
    promotions = [None, *sc["promotions"], sc["foreign"]]
    for _ in range(draw(st.integers(2, 6), label="customers")):
        customer = CustomerFactory(is_anonymised=draw(st.integers(0, 9)) == 0)
        for _ in range(draw(st.integers(0, 5), label="messages")):
            status = draw(st.sampled_from(["sent", "sent", "queued", "failed"]))
            sent = _ago(draw, now, "sent") if status == "sent" else None
            if sent is not None and draw(st.integers(0, 7)) == 0:
                sent = None  # sent, no time reported
            opened = clicked = None
            if sent is not None and draw(st.booleans()):
                opened = min(now, sent + dt.timedelta(hours=draw(st.integers(0, 2000))))
                if draw(st.booleans()):
                    clicked = min(now, opened + dt.timedelta(hours=draw(st.integers(0, 100))))
            Message.objects.create(
                customer=customer,
                channel=draw(st.sampled_from(CHANNELS)),
                address="x",
                text="x",
                status=status,
                promotion=draw(st.sampled_from(promotions)),
                sent_at=sent,
                opened_at=opened,
                clicked_at=clicked,
            )
        for channel in draw(some([*CHANNELS, "call"]), label="consents"):
            state = draw(st.sampled_from(["never", "granted", "withdrawn", "again"]))
            given_at = _ago(draw, now, "granted") if state != "never" else None
            revoked = _ago(draw, now, "revoked") if state in ("withdrawn", "again") else None
            if state == "again" and revoked is not None and given_at is not None:
                given_at, revoked = max(given_at, revoked), min(given_at, revoked)
            Consent.objects.create(
                customer=customer,
                channel=channel,
                is_granted=state in ("granted", "again"),
                granted_at=given_at,
                revoked_at=revoked,
            )


# --- random rules --------------------------------------------------------------------------


def conditions(sc: dict) -> dict:
    opt = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
    ids = some([p.pk for p in sc["promotions"]], 1)

    def messages(kind):
        return st.builds(
            lambda channels, promotions, window, least: leaf(
                kind, channels=channels, promotions=promotions, window=window, min=least
            ),
            opt(some(CHANNELS, 1)),
            opt(ids),
            windows(optional=True),
            opt(st.integers(1, 3)),
        )

    kinds = {kind: messages(kind) for kind in MOMENTS}
    kinds["unsubscribed"] = st.builds(
        lambda channels, window: leaf("unsubscribed", channels=channels, window=window),
        opt(some([*CHANNELS, "call"], 1)),
        windows(optional=True),
    )
    return {
        name: strategy.flatmap(lambda node: st.booleans().map(lambda no: {**node, "not": no}))
        for name, strategy in kinds.items()
    }


def rules(sc: dict, focus: str):
    """A rule with a condition of kind ``focus`` at the top, beside a random tree."""
    kinds = sc.setdefault("kinds", conditions(sc))

    def groups(children):
        return st.builds(
            lambda op, negated, items: {"op": op, "not": negated, "items": items},
            st.sampled_from(["and", "or"]),
            st.booleans(),
            st.lists(children, min_size=1, max_size=3),
        )

    tree = st.recursive(st.one_of(*kinds.values()), groups, max_leaves=4)
    return st.builds(
        lambda op, negated, first, rest: {"op": op, "not": negated, "items": [first, *rest]},
        st.sampled_from(["and", "or"]),
        st.booleans(),
        kinds[focus],
        st.lists(tree, max_size=2),
    )


# --- the oracle ----------------------------------------------------------------------------


class History:
    """The rows of one example, read back as they are; a rule decided customer by customer."""

    in_window = World.in_window  # the window as docs/segments.md defines it

    def __init__(self, now: dt.datetime):
        self.now = now
        self.customers = list(Customer.objects.values())
        self.messages = list(Message.objects.values())
        self.consents = list(Consent.objects.values())

    def members(self, rule: dict) -> set[int]:
        return {
            c["id"]
            for c in self.customers
            if not c["is_anonymised"] and c["merged_into_id"] is None and self.holds(rule, c)
        }

    def holds(self, node: dict, c: dict) -> bool:
        if "kind" not in node:
            results = [self.holds(item, c) for item in node["items"]]
            value = all(results) if node["op"] == "and" else any(results)
        elif node["kind"] == "unsubscribed":
            value = self.unsubscribed(node, c)
        else:
            value = self.messages_counted(node, c) >= node.get("min", 1)
        return value != node["not"]

    def messages_counted(self, n: dict, c: dict) -> int:
        moment = MOMENTS[n["kind"]]
        count = 0
        for m in self.messages:
            if m["customer_id"] != c["id"]:
                continue
            if n["kind"] == "messages_received" and m["status"] != "sent":
                continue
            if n["kind"] != "messages_received" and m[moment] is None:
                continue
            if "channels" in n and m["channel"] not in n["channels"]:
                continue
            if "promotions" in n and m["promotion_id"] not in n["promotions"]:
                continue
            if "window" in n and (m[moment] is None or not self.in_window(n["window"], m[moment])):
                continue
            count += 1
        return count

    def unsubscribed(self, n: dict, c: dict) -> bool:
        return any(
            r["customer_id"] == c["id"]
            and not r["is_granted"]
            and r["revoked_at"] is not None
            and ("channels" not in n or r["channel"] in n["channels"])
            and self.in_window(n.get("window"), r["revoked_at"])
            for r in self.consents
        )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_sql_membership_equals_the_python_reading_of_the_rule(scaffold, data):
    now = timezone.now().replace(microsecond=0)
    programme_id = scaffold["programme"].pk
    with transaction.atomic():
        build_world(data, scaffold, now)
        history = History(now)
        for focus in KINDS:
            rule = data.draw(rules(scaffold, focus), label=f"rule ({focus})")
            clean = rule_clean(rule, programme_id=programme_id)
            found = set(
                rule_members(clean, programme_id=programme_id, now=now).values_list("pk", flat=True)
            )
            assert found == history.members(clean), clean
        transaction.set_rollback(True)
