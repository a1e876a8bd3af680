"""A rule in words (``crm.segments.summary``) and the registry as data
(``crm.segments.describe``): both read only the registry, so a kind registered by any app reads
and renders with no change to them; rows are named, one query per model for any number of
rules; a rule that would not pass its check is still described as far as it goes."""

from __future__ import annotations

import pytest
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from crm.segments import registry
from crm.segments.describe import kinds_description
from crm.segments.params import Param
from crm.segments.registry import ConditionKind, register
from crm.segments.summary import rule_summaries, rule_summary
from tests.factories.crm import SegmentFactory
from tests.factories.loyalty import PartnerFactory, ProgrammeFactory, StoreFactory, TierFactory


def buying(partner_id: int, days: int, *, negated: bool = False) -> dict:
    return {
        "kind": "purchases",
        "not": negated,
        "measure": "count",
        "min": "1",
        "window": {"last_days": days},
        "partners": [partner_id],
    }


@pytest.fixture
def flags_kind():
    """A kind of condition another app might register, with the types crm's own kinds do not
    use (a yes/no, a list of texts, a date, a choice)."""
    kind = ConditionKind(
        "test_flags",
        _("flags"),
        _("Tests"),
        (
            Param("flag", _("flagged"), "bool"),
            Param("words", _("words"), "texts"),
            Param("since", _("since"), "date"),
            Param("level", _("level"), "choice", choices=[("hi", _("high")), ("lo", _("low"))]),
            Param("rate", _("rate"), "decimal", minimum=0, places=4, help_text=_("A share.")),
        ),
        lambda values, ctx: Q(pk__isnull=False),
        app_label="tests",
        help_text=_("Only in tests."),
    )
    register(kind)
    yield kind
    registry._KINDS.pop("test_flags")


@pytest.mark.django_db
def test_the_brief_s_rule_reads_as_a_sentence():
    pharmacy = PartnerFactory(name="Pharmacy")
    rule = {
        "op": "and",
        "not": False,
        "items": [
            buying(pharmacy.pk, 90),
            buying(pharmacy.pk, 30, negated=True),
            {
                "op": "or",
                "not": False,
                "items": [
                    {"kind": "gender", "not": False, "genders": ["female"]},
                    {"kind": "age", "not": False, "min": 60},
                ],
            },
        ],
    }

    assert rule_summary(rule) == (
        "purchases (number of purchases, from: 1, in the last 90 days, at the partners: Pharmacy)"
        " AND NOT purchases (number of purchases, from: 1, in the last 30 days, at the partners:"
        " Pharmacy) AND (gender (gender: female) OR age (from, years: 60))"
    )


@pytest.mark.django_db
def test_negated_groups_windows_of_dates_and_rows_deleted_since():
    store = StoreFactory(name="Lenina 1", partner=PartnerFactory(name="Megamart"))
    tier = TierFactory(name="Gold")
    rule = {
        "op": "or",
        "not": True,
        "items": [
            {"kind": "purchases", "measure": "sum", "max": "999.99",
             "window": {"from": "2026-01-01", "to": "2026-06-30"}, "stores": [store.pk]},
            {"kind": "registered", "window": {"from": "2026-01-01"}},
            {"kind": "registered", "window": {"to": "2026-02-01"}},
            {"kind": "registered", "window": {"last_days": 1}},
            {"kind": "tier", "tiers": [tier.pk, 987654]},
            {"op": "and", "items": [{"kind": "car", "make": "Lada"}]},
        ],
    }  # fmt: skip

    assert rule_summary(rule) == (
        "NOT (purchases (money paid, net of refunds, to: 999.99, from 2026-01-01 to 2026-06-30,"
        " in the stores: Megamart: Lenina 1) OR registered (since 2026-01-01)"
        " OR registered (until 2026-02-01) OR registered (in the last 1 day)"
        " OR tier (one of the tiers: Gold, #987654) OR car (make: “Lada”))"
    )


def test_a_rule_being_edited_is_described_as_far_as_it_goes():
    rule = {
        "op": "and",
        "items": [
            {"kind": "horoscope", "sign": "leo"},
            {"kind": "age"},
            {"kind": "registered", "window": {"last_days": "ninety"}},
            {"kind": "gender", "genders": ["female", "martian"]},
            "not a node",
            {"op": "or", "items": []},
        ],
    }

    assert rule_summary(rule) == (
        "unknown condition “horoscope” AND age AND registered (in the last ninety days)"
        " AND gender (gender: female, martian) AND ? AND (no conditions)"
    )
    assert rule_summary({"op": "and", "items": "nothing"}) == "(no conditions)"
    assert rule_summaries([None]) == [""]


@pytest.mark.django_db
def test_the_names_of_many_rules_take_one_query_per_model(django_assert_num_queries):
    partners = PartnerFactory.create_batch(3)
    programme = ProgrammeFactory()
    tiers = TierFactory.create_batch(2, programme=programme)
    segment = SegmentFactory(programme=programme, name="VIP")
    rules = [
        {"op": "and", "items": [
            buying(partner.pk, 30),
            {"kind": "tier", "tiers": [tier.pk for tier in tiers]},
            {"kind": "segment", "segment": segment.pk},
        ]}
        for partner in partners
    ]  # fmt: skip

    with django_assert_num_queries(3):
        texts = rule_summaries(rules)

    assert [partner.name in text for partner, text in zip(partners, texts, strict=True)] == [
        True,
        True,
        True,
    ]
    assert all("member of a segment (segment: VIP)" in text for text in texts)


def test_a_kind_any_app_registers_reads_and_is_described(flags_kind):
    rule = {
        "op": "and",
        "items": [
            {"kind": "test_flags", "not": True, "flag": True, "words": ["a", "b"],
             "since": "2026-03-01", "level": "hi", "rate": "0.25"},
            {"kind": "test_flags", "flag": False, "level": "mid"},
        ],
    }  # fmt: skip
    assert rule_summary(rule) == (
        "NOT flags (flagged: yes, words: “a”, “b”, since: 2026-03-01, high, rate: 0.25)"
        " AND flags (flagged: no, mid)"
    )

    described = {kind["code"]: kind for kind in kinds_description()}
    assert described["test_flags"] == {
        "code": "test_flags",
        "label": "flags",
        "group": "Tests",
        "help": "Only in tests.",
        "params": [
            {"name": "flag", "label": "flagged", "type": "bool", "required": False, "help": "",
             "choices": [], "minimum": None, "maximum": None, "places": 2},
            {"name": "words", "label": "words", "type": "texts", "required": False, "help": "",
             "choices": [], "minimum": None, "maximum": None, "places": 2},
            {"name": "since", "label": "since", "type": "date", "required": False, "help": "",
             "choices": [], "minimum": None, "maximum": None, "places": 2},
            {"name": "level", "label": "level", "type": "choice", "required": False, "help": "",
             "choices": [["hi", "high"], ["lo", "low"]], "minimum": None, "maximum": None,
             "places": 2},
            {"name": "rate", "label": "rate", "type": "decimal", "required": False,
             "help": "A share.", "choices": [], "minimum": 0, "maximum": None, "places": 4},
        ],
    }  # fmt: skip


def test_every_registered_kind_is_described_with_its_rows_models():
    described = kinds_description()

    assert [kind["code"] for kind in described] == [kind.code for kind in registry.kinds()]
    purchases = next(kind for kind in described if kind["code"] == "purchases")
    assert purchases["group"] == "Purchases"
    partners = next(p for p in purchases["params"] if p["name"] == "partners")
    assert partners["model"] == "loyalty.Partner"
    assert partners["programme_scoped"] is False
    tier = next(kind for kind in described if kind["code"] == "tier")
    assert tier["params"][0]["programme_scoped"] is True
    assert tier["params"][0]["required"] is True
    measure = next(p for p in purchases["params"] if p["name"] == "measure")
    assert ["count", "number of purchases"] in measure["choices"]


@pytest.mark.django_db
def test_words_and_descriptions_follow_the_language():
    pharmacy = PartnerFactory(name="Аптека")
    with translation.override("ru"):
        text = rule_summary({"op": "and", "items": [buying(pharmacy.pk, 90)]})
        described = {kind["code"]: kind for kind in kinds_description()}

    assert text.startswith("покупки (число покупок")
    assert "у партнёров: Аптека" in text
    assert described["purchases"]["label"] == "покупки"


def test_values_of_the_wrong_type_are_shown_as_written():
    rule = {
        "op": "and",
        "items": [
            {"kind": "purchases", "measure": ["count"], "partners": [["x"], "y"]},
            {"kind": "gender", "genders": [{"a": 1}]},
        ],
    }

    assert rule_summary(rule) == (
        "purchases (['count'], at the partners: ['x'], y) AND gender (gender: {'a': 1})"
    )
