"""The conditions on what crm knows: the profile, the questionnaire and its composite parts
(family and pets, cars), memorable dates, and membership of other segments. Registered by
``CrmConfig.ready``.

Ages are whole years on today's date in the project's time zone; someone born on 29 February
has their birthday on 28 February in other years (as the promotions' date windows have it).
Customers without a birth date match no age and no birthday condition (nor do family members
without one match an age). Text matches ignore case (on SQLite, for Latin letters only: its
LIKE folds no other case; PostgreSQL folds every alphabet)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict

from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, Value
from django.db.utils import NotSupportedError
from django.utils.translation import gettext_lazy as _

from crm.models import (
    Car,
    Customer,
    FamilyMember,
    MemorableDate,
    ProfileAnswer,
    ProfileQuestion,
    Segment,
    SegmentMember,
    SegmentMembershipChange,
)
from crm.segments.aggregates import range_check
from crm.segments.params import Param, bad
from crm.segments.registry import (
    ChangeContext,
    CheckContext,
    CompileContext,
    ConditionKind,
    Values,
    register,
)

PROFILE = _("Profile")
QUESTIONNAIRE = _("Questionnaire")
DATES = _("Dates")
SEGMENTS = _("Segments")

WINDOW = Param("window", _("when"), "window", required=True)


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier (28 February for 29 February in a common year)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_q(field: str, lo: int | None, hi: int | None, today: dt.date) -> Q:
    """Born ``field`` so that the age today is within ``lo``..``hi`` years."""
    q = Q(**{f"{field}__isnull": False})
    if lo is not None:
        q &= Q(**{f"{field}__lte": years_before(today, lo)})
    if hi is not None:
        q &= Q(**{f"{field}__gt": years_before(today, hi + 1)})
    return q


def window_days(today: dt.date, direction: str, days: int) -> tuple[dt.date, dt.date]:
    if direction == "next":
        return today, today + dt.timedelta(days=days)
    return today - dt.timedelta(days=days), today


def yearly_q(field: str, first: dt.date, last: dt.date) -> Q:
    """A date whose yearly occurrence falls between ``first`` and ``last`` (inclusive):
    a month-and-day test, with 29 February on 28 February in common years."""
    by_month: dict[int, set[int]] = defaultdict(set)
    day = first
    while day <= last:
        by_month[day.month].add(day.day)
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            by_month[2].add(29)
        day += dt.timedelta(days=1)
    q = Q(pk__in=[])
    for month, days in sorted(by_month.items()):
        q |= Q(**{f"{field}__month": month, f"{field}__day__in": sorted(days)})
    return Q(**{f"{field}__isnull": False}) & q


class JsonListHas(Func):
    """Whether a JSON list column holds the string ``value``."""

    output_field = BooleanField()

    def __init__(self, field: str, value: str):
        super().__init__(F(field), Value(value))

    def _parts(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.source_expressions[0])
        rhs, rhs_params = compiler.compile(self.source_expressions[1])
        return lhs, rhs, (*lhs_params, *rhs_params)

    def as_sql(self, compiler, connection, *args, **extra):
        raise NotSupportedError("JsonListHas supports PostgreSQL and SQLite")

    def as_sqlite(self, compiler, connection, **extra):
        lhs, rhs, params = self._parts(compiler, connection)
        return f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value = {rhs})", params

    def as_postgresql(self, compiler, connection, **extra):
        lhs, rhs, params = self._parts(compiler, connection)
        return f"({lhs} @> jsonb_build_array(({rhs})::text))", params


def _of_customer(model, **filters) -> Exists:
    return Exists(model.objects.filter(customer=OuterRef("pk"), **filters))


# --- the profile -------------------------------------------------------------------------


def _age(values: Values, ctx: CompileContext) -> Q:
    return age_q("birth_date", values["min"], values["max"], ctx.today)


def _gender(values: Values, ctx: CompileContext) -> Q:
    return Q(gender__in=values["genders"])


def _registered(values: Values, ctx: CompileContext) -> Q:
    return values["window"].q("registered_at", ctx.now) & Q(registered_at__isnull=False)


def _source(values: Values, ctx: CompileContext) -> Q:
    return Q(source__in=values["sources"])


def _always(values: Values) -> bool:
    return True


def _window_fixed(values: Values) -> bool:
    return values["window"] is None or values["window"].last_days is None


def _customers_saved(values: Values, ctx: ChangeContext) -> list:
    """Customers whose row was saved (``updated_at``: every ``save()``; a removed answer
    touches it too, ``crm.services.profile.profile_answer_set``)."""
    return [Customer.objects.filter(updated_at__gte=ctx.since).values("pk")]


def _answers_changed(values: Values, ctx: ChangeContext) -> list:
    answered = ProfileAnswer.objects.filter(
        question_id=values["question"], answered_at__gte=ctx.since
    )
    return [answered.values("customer_id"), *_customers_saved(values, ctx)]


def _segment_changed(values: Values, ctx: ChangeContext) -> list | None:
    """Who entered or left the segment read at its refreshes since; a segment filled by hand
    keeps no such history, so then nobody can tell (a full refresh)."""
    kind = Segment.objects.filter(pk=values["segment"]).values_list("kind", flat=True).first()
    if kind != Segment.Kind.RULES:
        return None
    changes = SegmentMembershipChange.objects.filter(
        segment_id=values["segment"], refresh__started_at__gte=ctx.since
    )
    return [changes.values("customer_id")]


# --- the questionnaire -------------------------------------------------------------------

ANSWER_OPS = [
    ("answered", _("answered")),
    ("text_equals", _("text is")),
    ("text_contains", _("text contains")),
    ("number_between", _("number between")),
    ("date_between", _("date between")),
    ("is_true", _("yes")),
    ("is_false", _("no")),
    ("choice_any", _("any of the options")),
    ("choice_all", _("all of the options")),
]
T = ProfileQuestion.AnswerType
OPS_BY_TYPE: dict[str, set[str]] = {
    T.TEXT: {"answered", "text_equals", "text_contains"},
    T.NUMBER: {"answered", "number_between"},
    T.DATE: {"answered", "date_between"},
    T.BOOLEAN: {"answered", "is_true", "is_false"},
    T.CHOICE: {"answered", "choice_any"},
    T.MULTI_CHOICE: {"answered", "choice_any", "choice_all"},
}
NEEDS = {
    "text_equals": ("text",),
    "text_contains": ("text",),
    "number_between": ("min", "max"),
    "date_between": ("from", "to"),
    "choice_any": ("values",),
    "choice_all": ("values",),
}
ANSWERED = (
    ~Q(value_text="")
    | Q(value_number__isnull=False)
    | Q(value_date__isnull=False)
    | Q(value_bool__isnull=False)
    | ~Q(value_choices=[])
)


def _answer_check(values: Values, ctx: CheckContext) -> None:
    question = ProfileQuestion.objects.get(pk=values["question"])
    op = values["match"]
    if op not in OPS_BY_TYPE[question.answer_type]:
        raise bad(
            "match",
            _("“%(op)s” does not apply to an answer of type “%(type)s”.")
            % {"op": op, "type": question.get_answer_type_display()},
        )
    needs = NEEDS.get(op, ())
    for name in ("text", "min", "max", "from", "to", "values"):
        if values[name] is not None and name not in needs:
            raise bad(name, _("Not used by “%(op)s”.") % {"op": op})
    if op in ("text_equals", "text_contains", "choice_any", "choice_all"):
        if values[needs[0]] is None:
            raise bad(needs[0], _("This parameter is required."))
    if op == "number_between":
        range_check(values)
    if op == "date_between":
        range_check(values, "from", "to")
    if op in ("choice_any", "choice_all"):
        allowed = set(question.choices.values_list("value", flat=True))
        unknown = [v for v in values["values"] if v not in allowed]
        if unknown:
            raise bad(
                "values",
                _("The question has no options %(values)s.") % {"values": ", ".join(unknown)},
            )


def _answer(values: Values, ctx: CompileContext) -> Q:
    op = values["match"]
    filters = Q(question_id=values["question"])
    if op == "answered":
        filters &= ANSWERED
    elif op == "text_equals":
        filters &= Q(value_text__iexact=values["text"])
    elif op == "text_contains":
        filters &= Q(value_text__icontains=values["text"])
    elif op == "number_between":
        filters &= Q(value_number__isnull=False) & _bounds(
            "value_number", values["min"], values["max"]
        )
    elif op == "date_between":
        filters &= Q(value_date__isnull=False) & _bounds("value_date", values["from"], values["to"])
    elif op in ("is_true", "is_false"):
        filters &= Q(value_bool=op == "is_true")
    else:
        parts = [Q(JsonListHas("value_choices", value)) for value in values["values"]]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined & part if op == "choice_all" else joined | part
        filters &= joined
    return Q(Exists(ProfileAnswer.objects.filter(filters, customer=OuterRef("pk"))))


def _bounds(field: str, lo, hi) -> Q:
    q = Q()
    if lo is not None:
        q &= Q(**{f"{field}__gte": lo})
    if hi is not None:
        q &= Q(**{f"{field}__lte": hi})
    return q


def _family(values: Values, ctx: CompileContext) -> Q:
    q = Q(relation=values["relation"])
    if values["age_min"] is not None or values["age_max"] is not None:
        q &= age_q("birth_date", values["age_min"], values["age_max"], ctx.today)
    if values["genders"]:
        q &= Q(gender__in=values["genders"])
    if values["species"]:
        q &= Q(species__icontains=values["species"])
    return Q(Exists(FamilyMember.objects.filter(q, customer=OuterRef("pk"))))


def _family_check(values: Values, ctx: CheckContext) -> None:
    if values["age_min"] is not None and values["age_max"] is not None:
        range_check(values, "age_min", "age_max")
    if values["species"] and values["relation"] != FamilyMember.Relation.PET:
        raise bad("species", _("Only pets have a species."))


def _car(values: Values, ctx: CompileContext) -> Q:
    q = Q()
    if values["make"]:
        q &= Q(make__iexact=values["make"])
    if values["year_min"] is not None:
        q &= Q(year__isnull=False, year__gte=values["year_min"])
    if values["year_max"] is not None:
        q &= Q(year__isnull=False, year__lte=values["year_max"])
    return Q(Exists(Car.objects.filter(q, customer=OuterRef("pk"))))


# --- dates ---------------------------------------------------------------------------------


def _date_near(values: Values, ctx: CompileContext) -> Q:
    first, last = window_days(ctx.today, values["direction"], values["days"])
    source = values["source"]
    if source == "birthday":
        return yearly_q("birth_date", first, last)
    if source == "family":
        family = Q(pk__isnull=False)
        if values["relations"]:
            family = Q(relation__in=values["relations"])
        return Q(
            Exists(
                FamilyMember.objects.filter(
                    family, yearly_q("birth_date", first, last), customer=OuterRef("pk")
                )
            )
        )
    dates = (Q(is_yearly=True) & yearly_q("date", first, last)) | Q(
        is_yearly=False, date__gte=first, date__lte=last
    )
    if values["kinds"]:
        dates &= Q(kind__in=values["kinds"])
    return Q(Exists(MemorableDate.objects.filter(dates, customer=OuterRef("pk"))))


def _date_near_check(values: Values, ctx: CheckContext) -> None:
    if values["kinds"] and values["source"] != "memorable":
        raise bad("kinds", _("Only memorable dates have kinds."))
    if values["relations"] and values["source"] != "family":
        raise bad("relations", _("Only family members have relations."))


# --- segments ------------------------------------------------------------------------------


def _segment(values: Values, ctx: CompileContext) -> Q:
    return Q(_of_customer(SegmentMember, segment_id=values["segment"]))


def register_crm_kinds() -> None:
    register(
        ConditionKind(
            "age",
            _("age"),
            PROFILE,
            (
                Param("min", _("from, years"), "int", minimum=0, maximum=150),
                Param("max", _("to, years"), "int", minimum=0, maximum=150),
            ),
            _age,
            check=lambda values, ctx: range_check(values),
            app_label="crm",
        ),
        ConditionKind(
            "gender",
            _("gender"),
            PROFILE,
            (
                Param(
                    "genders",
                    _("gender"),
                    "choices",
                    required=True,
                    choices=Customer.Gender.choices,
                ),
            ),
            _gender,
            app_label="crm",
            time_stable=_always,
            changes=_customers_saved,
        ),
        ConditionKind(
            "registered",
            _("registered"),
            PROFILE,
            (WINDOW,),
            _registered,
            app_label="crm",
            time_stable=_window_fixed,
            changes=_customers_saved,
        ),
        ConditionKind(
            "source",
            _("registration source"),
            PROFILE,
            (
                Param(
                    "sources",
                    _("registered through"),
                    "choices",
                    required=True,
                    choices=Customer.Source.choices,
                ),
            ),
            _source,
            app_label="crm",
            time_stable=_always,
            changes=_customers_saved,
        ),
        ConditionKind(
            "answer",
            _("questionnaire answer"),
            QUESTIONNAIRE,
            (
                Param("question", _("question"), "id", required=True, model="crm.ProfileQuestion"),
                Param("match", _("answer"), "choice", required=True, choices=ANSWER_OPS),
                Param("text", _("text"), "text"),
                Param("min", _("from"), "decimal", places=4),
                Param("max", _("to"), "decimal", places=4),
                Param("from", _("from"), "date"),
                Param("to", _("to"), "date"),
                Param("values", _("options"), "texts"),
            ),
            _answer,
            check=_answer_check,
            app_label="crm",
            time_stable=_always,
            changes=_answers_changed,
        ),
        ConditionKind(
            "family",
            _("family member or pet"),
            QUESTIONNAIRE,
            (
                Param(
                    "relation",
                    _("relation"),
                    "choice",
                    required=True,
                    choices=FamilyMember.Relation.choices,
                ),
                Param("age_min", _("aged from, years"), "int", minimum=0, maximum=150),
                Param("age_max", _("aged to, years"), "int", minimum=0, maximum=150),
                Param("genders", _("gender"), "choices", choices=Customer.Gender.choices),
                Param("species", _("species or breed contains"), "text"),
            ),
            _family,
            check=_family_check,
            app_label="crm",
        ),
        ConditionKind(
            "car",
            _("car"),
            QUESTIONNAIRE,
            (
                Param("make", _("make"), "text"),
                Param("year_min", _("made from"), "int", minimum=1900, maximum=2100),
                Param("year_max", _("made to"), "int", minimum=1900, maximum=2100),
            ),
            _car,
            check=lambda values, ctx: (
                range_check(values, "year_min", "year_max")
                if values["year_min"] is not None and values["year_max"] is not None
                else None
            ),
            app_label="crm",
        ),
        ConditionKind(
            "date_near",
            _("a date comes or came"),
            DATES,
            (
                Param(
                    "source",
                    _("whose date"),
                    "choice",
                    required=True,
                    choices=[
                        ("birthday", _("the customer's birthday")),
                        ("memorable", _("a memorable date")),
                        ("family", _("a family member's birthday")),
                    ],
                ),
                Param(
                    "kinds",
                    _("memorable dates of kind"),
                    "choices",
                    choices=MemorableDate.Kind.choices,
                ),
                Param(
                    "relations",
                    _("family members"),
                    "choices",
                    choices=FamilyMember.Relation.choices,
                ),
                Param(
                    "direction",
                    _("within"),
                    "choice",
                    required=True,
                    choices=[("next", _("the next days")), ("last", _("the last days"))],
                ),
                Param("days", _("days"), "int", required=True, minimum=0, maximum=366),
            ),
            _date_near,
            check=_date_near_check,
            app_label="crm",
            help_text=_("Yearly dates count every year; a one-off date only on its day."),
        ),
        ConditionKind(
            "segment",
            _("member of a segment"),
            SEGMENTS,
            (
                Param(
                    "segment",
                    _("segment"),
                    "id",
                    required=True,
                    model="crm.Segment",
                    programme_field="programme",
                ),
            ),
            _segment,
            references=lambda values: [values["segment"]],
            app_label="crm",
            time_stable=_always,
            changes=_segment_changed,
            help_text=_("Its members as of its last refresh."),
        ),
    )
