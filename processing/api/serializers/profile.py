"""The customer questionnaire in the POS API: answers by question code, checked against the
questions defined in the admin, and a schema that lists those questions as they are when the
schema is asked for, so a new question reaches the API and its documentation without code."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from crm.models import ProfileQuestion
from crm.services.profile import profile_answers_check, profile_questions_active

MAX_ANSWERS = 100
Kind = ProfileQuestion.AnswerType


class ProfileField(serializers.DictField):
    """``{question code: answer}``; an unknown or inactive question, or an answer its type
    refuses, is an error of that code."""

    default_error_messages = {
        "too_many": f"At most {MAX_ANSWERS} answers.",
    }

    def to_internal_value(self, data):
        answers = super().to_internal_value(data)
        if len(answers) > MAX_ANSWERS:
            self.fail("too_many")
        try:
            profile_answers_check(answers)
        except DjangoValidationError as error:
            raise serializers.ValidationError(
                {code: [str(m) for m in errors] for code, errors in error.message_dict.items()}
            ) from error
        return answers


def question_schema(question: ProfileQuestion) -> dict:
    """One question as a JSON schema property: its type, options, label and hint."""
    kind = question.answer_type
    described = {"title": question.label}
    if question.help_text:
        described["description"] = question.help_text
    if kind == Kind.NUMBER:
        return {**described, "type": "string", "format": "decimal", "example": "2"}
    if kind == Kind.DATE:
        return {**described, "type": "string", "format": "date"}
    if kind == Kind.BOOLEAN:
        return {**described, "type": "boolean"}
    options = [choice.value for choice in question.choices.all()]
    if kind == Kind.CHOICE:
        return {**described, "type": "string", "enum": options}
    if kind == Kind.MULTI_CHOICE:
        return {**described, "type": "array", "items": {"type": "string", "enum": options}}
    return {**described, "type": "string", "maxLength": 2000}


OPEN_PROFILE = {
    "type": "object",
    "description": "Answers to the questionnaire by question code (the questions of the admin's "
    "Customers › Profile questions; the live schema at /api/schema/ lists them).",
    "additionalProperties": True,
}


def profile_schema() -> dict:
    try:
        questions = profile_questions_active()
    except Exception:  # noqa: BLE001 no database to read (a schema written offline): the open form
        return OPEN_PROFILE
    return {
        "type": "object",
        "description": "Answers to the questionnaire by question code (the questions of the "
        "admin's Customers › Profile questions, as they are now). An empty answer is no answer.",
        "properties": {question.code: question_schema(question) for question in questions},
        "additionalProperties": False,
    }


class ProfileFieldExtension(OpenApiSerializerFieldExtension):
    target_class = ProfileField

    def map_serializer_field(self, auto_schema, direction):
        return profile_schema()
