"""Factories for the crm app."""

from __future__ import annotations

import factory
from django.utils import timezone

from crm.models import (
    Consent,
    Customer,
    FamilyMember,
    ProfileQuestion,
    ProfileQuestionChoice,
    Segment,
)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = "Anna"
    last_name = factory.Sequence(lambda n: f"Ivanova{n}")
    # +7 900 xxx-xx-xx: valid Russian mobile numbers, unique per sequence
    phone = factory.Sequence(lambda n: f"+7900{n:07d}")
    email = factory.Sequence(lambda n: f"customer{n}@mail.example")


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    customer = factory.SubFactory(CustomerFactory)
    channel = Consent.Channel.SMS
    is_granted = True
    granted_at = factory.LazyFunction(timezone.now)


class FamilyMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FamilyMember

    customer = factory.SubFactory(CustomerFactory)
    relation = FamilyMember.Relation.CHILD
    name = "Masha"


class ProfileQuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProfileQuestion

    code = factory.Sequence(lambda n: f"question{n}")
    label = factory.Sequence(lambda n: f"Question {n}?")
    answer_type = ProfileQuestion.AnswerType.TEXT


class ProfileQuestionChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProfileQuestionChoice

    question = factory.SubFactory(
        ProfileQuestionFactory, answer_type=ProfileQuestion.AnswerType.CHOICE
    )
    value = factory.Sequence(lambda n: f"option{n}")
    label = factory.Sequence(lambda n: f"Option {n}")


class SegmentFactory(factory.django.DjangoModelFactory):
    """A manual segment; give ``kind="rules"`` and a ``rule`` for a rule segment."""

    class Meta:
        model = Segment

    programme = factory.SubFactory("tests.factories.loyalty.ProgrammeFactory")
    code = factory.Sequence(lambda n: f"segment{n}")
    name = factory.Sequence(lambda n: f"Segment {n}")
