"""Answers to the admin-defined questionnaire: parsed and checked by the question's type."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.models import Customer, ProfileAnswer, ProfileQuestion
from crm.signals import occasion_send

Kind = ProfileQuestion.AnswerType
MAX_TEXT = 2000
# ProfileAnswer.value_number is DecimalField(max_digits=20, decimal_places=4).
NUMBER_PLACES = Decimal("0.0001")
NUMBER_LIMIT = Decimal("1e16")
TRUE_WORDS = {"true", "yes", "1", "да"}
FALSE_WORDS = {"false", "no", "0", "нет"}
EMPTY_COLUMNS = {
    "value_text": "",
    "value_number": None,
    "value_date": None,
    "value_bool": None,
    "value_choices": [],
}


def _is_empty(value: object) -> bool:
    return (
        value is None
        or value == []
        or value == ()
        or (isinstance(value, str) and not value.strip())
    )


def _options(question: ProfileQuestion) -> tuple[list[str], str]:
    """The allowed values and a "value (label)" list for the error messages."""
    choices = list(question.choices.all())
    shown = ", ".join(f"{choice.value} ({choice.label})" for choice in choices)
    return [choice.value for choice in choices], shown


def _parse_number(value: object) -> Decimal:
    # A float has already lost digits (0.1 is 0.1000000000000000055...), and True is 1 in
    # Python: both are refused rather than guessed at.
    if isinstance(value, bool | float) or not isinstance(value, str | int | Decimal):
        raise ValidationError(_('Enter the number as text, e.g. "2.5".'), code="invalid_number")
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationError(_("Enter a number, e.g. 42 or 2.5."), code="invalid_number") from None
    if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
        raise ValidationError(_("Enter a number, e.g. 42 or 2.5."), code="invalid_number")
    rounded = number.quantize(NUMBER_PLACES, rounding=ROUND_HALF_UP)
    if rounded != number:
        raise ValidationError(
            _("Use at most four digits after the decimal point."), code="too_precise"
        )
    return rounded


def _parse_date(value: object) -> date:
    if isinstance(value, datetime):
        # A moment is not a day: which day it is depends on the time zone.
        raise ValidationError(_("Enter a date as YYYY-MM-DD, without a time."), code="invalid_date")
    if isinstance(value, date):
        return value
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_date(value.strip())
        except ValueError:  # well formed but not a day of the calendar, e.g. 2023-02-30
            raise ValidationError(
                _("%(value)s is not a day of the calendar.") % {"value": value},
                code="invalid_date",
            ) from None
    if parsed is None:
        raise ValidationError(_("Enter a date as YYYY-MM-DD."), code="invalid_date")
    return parsed


def _parse_boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValidationError(_("Answer yes or no."), code="invalid_boolean")


def profile_answer_parse(question: ProfileQuestion, value: object) -> dict[str, object] | None:
    """Return the column values that store ``value`` for ``question``, or None for "no answer".

    An empty value (None, "", blanks, an empty list) means no answer, which a required question
    refuses. Raises ``ValidationError`` with a message a marketer or an integrator can act on
    and a ``code``: ``required``, ``invalid_text``, ``too_long``, ``invalid_number``,
    ``too_precise``, ``invalid_date``, ``invalid_boolean``, ``invalid_choice``.
    """
    if _is_empty(value):
        if question.is_required:
            raise ValidationError(
                _("“%(question)s” needs an answer.") % {"question": question.label},
                code="required",
            )
        return None
    kind = question.answer_type
    if kind == Kind.TEXT:
        if not isinstance(value, str):
            raise ValidationError(_("Enter text."), code="invalid_text")
        text = value.strip()
        if len(text) > MAX_TEXT:
            raise ValidationError(
                _("Keep the answer under %(max)d characters.") % {"max": MAX_TEXT},
                code="too_long",
            )
        return {"value_text": text}
    if kind == Kind.NUMBER:
        return {"value_number": _parse_number(value)}
    if kind == Kind.DATE:
        return {"value_date": _parse_date(value)}
    if kind == Kind.BOOLEAN:
        return {"value_bool": _parse_boolean(value)}
    allowed, shown = _options(question)
    if kind == Kind.CHOICE:
        if not isinstance(value, str) or value not in allowed:
            raise ValidationError(
                _("Choose one of: %(options)s.") % {"options": shown}, code="invalid_choice"
            )
        return {"value_choices": [value]}
    if kind == Kind.MULTI_CHOICE:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValidationError(
                _("Give a list of options from: %(options)s.") % {"options": shown},
                code="invalid_choice",
            )
        chosen = list(dict.fromkeys(value))  # distinct, in the order given
        wrong = [item for item in chosen if item not in allowed]
        if wrong:
            raise ValidationError(
                _("Unknown options %(wrong)s; choose from: %(options)s.")
                % {"wrong": ", ".join(wrong), "options": shown},
                code="invalid_choice",
            )
        return {"value_choices": chosen}
    raise ValidationError(_("This question cannot be answered."), code="invalid_question")


@transaction.atomic
def profile_answer_set(
    *, customer: Customer, question: ProfileQuestion, value: object
) -> ProfileAnswer | None:
    """Store a customer's answer to one question; an empty value removes the answer.

    Raises ``ValidationError`` (see ``profile_answer_parse``) before writing anything.
    """
    columns = profile_answer_parse(question, value)
    if columns is None:
        removed, _rows = ProfileAnswer.objects.filter(customer=customer, question=question).delete()
        if removed:
            # a removed answer leaves no row: the customer's ``updated_at`` tells the
            # incremental segment refresh (crm.segments.kinds) that the answers changed
            Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())
        return None
    answer, _created = ProfileAnswer.objects.update_or_create(
        customer=customer, question=question, defaults={**EMPTY_COLUMNS, **columns}
    )
    profile_check(customer)
    return answer


def profile_answers_check(answers: dict[str, object]) -> dict[str, ProfileQuestion]:
    """Check several answers by question code without writing; return their questions.

    Raises a ``ValidationError`` that maps each failing code to its errors; an unknown or
    inactive question is an error (``unknown_question``)."""
    questions = {
        q.code: q
        for q in ProfileQuestion.objects.filter(code__in=list(answers)).prefetch_related("choices")
    }
    errors: dict[str, list[ValidationError]] = {}
    for code, value in answers.items():
        question = questions.get(code)
        if question is None or not question.is_active:
            errors[code] = [
                ValidationError(
                    _("There is no active question with the code “%(code)s”.") % {"code": code},
                    code="unknown_question",
                )
            ]
            continue
        try:
            profile_answer_parse(question, value)
        except ValidationError as error:
            errors[code] = error.error_list
    if errors:
        raise ValidationError(errors)
    return questions


@transaction.atomic
def profile_answers_set(*, customer: Customer, answers: dict[str, object]) -> None:
    """Store several answers by question code, all or nothing: every answer is checked
    (``profile_answers_check``) before anything is written."""
    questions = profile_answers_check(answers)
    for code, value in answers.items():
        profile_answer_set(customer=customer, question=questions[code], value=value)


def profile_questions_active() -> list[ProfileQuestion]:
    """The active questions with their options, in the questionnaire's order."""
    return list(ProfileQuestion.objects.filter(is_active=True).prefetch_related("choices"))


def profile_answer_json(value: object) -> object:
    """An answer as JSON carries it: numbers as strings (never floats), dates in ISO 8601."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def profile_answers_get(customer: Customer) -> dict[str, object]:
    """Return ``{question code: value}`` of the customer's answers to active questions.

    Values keep their Python types: ``Decimal`` numbers, ``date`` dates, a ``str`` for a choice
    and a ``list`` of ``str`` for several.
    """
    answers = ProfileAnswer.objects.filter(
        customer=customer, question__is_active=True
    ).select_related("question")
    return {answer.question.code: answer.value for answer in answers}


def profile_is_complete(customer: Customer) -> bool:
    """Whether the customer told us everything we ask: first and last name, birth date, a
    phone or an email, and an answer to every required active question."""
    if not (customer.first_name and customer.last_name and customer.birth_date):
        return False
    if not (customer.phone or customer.email):
        return False
    required = ProfileQuestion.objects.filter(is_active=True, is_required=True)
    answered = ProfileAnswer.objects.filter(customer=customer, question__in=required)
    return answered.count() == required.count()


def profile_check(customer: Customer) -> bool:
    """Send the ``profile_completed`` occasion when the profile is complete (its subscribers
    reward it once in a customer's life, however often it is sent); return whether it is."""
    if customer.pk is None or customer.is_anonymised or not profile_is_complete(customer):
        return False
    occasion_send("profile_completed", customer, timezone.now())
    return True
