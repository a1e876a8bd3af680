"""The demo customers (with consents, children and referrals) and their cards, a few of them
blocked."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from crm.contacts import normalize_email, normalize_phone_or_none
from crm.models import Consent, Customer, FamilyMember
from demo.language import say
from loyalty.models import Card, CardBatch, Programme
from loyalty.validators import ean13_check_digit

FEMALE_FIRST = [
    "Anna",
    "Maria",
    "Elena",
    "Olga",
    "Natalia",
    "Irina",
    "Svetlana",
    "Tatiana",
    "Ekaterina",
    "Daria",
    "Polina",
    "Sofia",
    "Alina",
    "Victoria",
    "Ksenia",
]
MALE_FIRST = [
    "Alexander",
    "Dmitry",
    "Sergey",
    "Andrey",
    "Alexey",
    "Ivan",
    "Mikhail",
    "Nikolai",
    "Pavel",
    "Artem",
    "Maxim",
    "Egor",
    "Roman",
    "Kirill",
    "Denis",
]
LAST_NAMES = [
    ("Ivanov", "Ivanova"),
    ("Petrov", "Petrova"),
    ("Smirnov", "Smirnova"),
    ("Kuznetsov", "Kuznetsova"),
    ("Popov", "Popova"),
    ("Vasiliev", "Vasilieva"),
    ("Sokolov", "Sokolova"),
    ("Mikhailov", "Mikhailova"),
    ("Novikov", "Novikova"),
    ("Fedorov", "Fedorova"),
    ("Morozov", "Morozova"),
    ("Volkov", "Volkova"),
    ("Alekseev", "Alekseeva"),
    ("Lebedev", "Lebedeva"),
    ("Semenov", "Semenova"),
    ("Egorov", "Egorova"),
    ("Pavlov", "Pavlova"),
    ("Kozlov", "Kozlova"),
    ("Stepanov", "Stepanova"),
    ("Nikolaev", "Nikolaeva"),
]


def customers_load(count: int, rng: random.Random, now: datetime) -> list[Customer]:
    people = []
    used_phones: set[str] = set()
    for index in range(count):
        female = rng.random() < 0.55
        first = rng.choice(FEMALE_FIRST if female else MALE_FIRST)
        last = rng.choice(LAST_NAMES)[1 if female else 0]
        phone = f"+79{13 + index % 7:02d}{1000000 + index * 37 % 9000000:07d}"
        while phone in used_phones:
            phone = f"+7923{rng.randint(1000000, 9999999)}"
        used_phones.add(phone)
        registered = now - timedelta(days=rng.randint(0, 540), minutes=rng.randint(0, 1440))
        email = f"{first}.{last}.{index}@mail.example" if rng.random() < 0.6 else None
        people.append(
            # bulk_create skips Customer.save(): the contacts take their canonical form here.
            Customer(
                first_name=say(first),
                last_name=say(last),
                phone=normalize_phone_or_none(phone),
                email=normalize_email(email),
                birth_date=date(rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28))
                if rng.random() < 0.8
                else None,
                gender=Customer.Gender.FEMALE if female else Customer.Gender.MALE,
                registered_at=registered,
                source=Customer.Source.DEMO,
                source_detail="demo",
                referral_code=f"D{index:05d}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{rng.choice('23456789')}",
                phone_verified=rng.random() < 0.7,
            )
        )
    Customer.objects.bulk_create(people, batch_size=1000)
    people = list(Customer.objects.filter(source=Customer.Source.DEMO).order_by("pk"))
    referred = []
    for person in people[10:]:
        if rng.random() < 0.1:
            person.referrer = rng.choice(people[:10])
            referred.append(person)
    Customer.objects.bulk_update(referred, ["referrer"], batch_size=1000)
    consents, family = [], []
    for person in people:
        for channel in (Consent.Channel.SMS, Consent.Channel.EMAIL, Consent.Channel.PUSH):
            if channel == Consent.Channel.EMAIL and not person.email:
                continue
            granted = rng.random() < 0.6
            consents.append(
                Consent(
                    customer=person,
                    channel=channel,
                    is_granted=granted,
                    granted_at=person.registered_at if granted else None,
                    source="demo",
                    text_version="2026-01",
                )
            )
        if rng.random() < 0.25:
            family.append(
                FamilyMember(
                    customer=person,
                    relation=FamilyMember.Relation.CHILD,
                    name=say(rng.choice(FEMALE_FIRST + MALE_FIRST)),
                    birth_date=date(
                        rng.randint(2010, 2024), rng.randint(1, 12), rng.randint(1, 28)
                    ),
                )
            )
    Consent.objects.bulk_create(consents, batch_size=2000)
    FamilyMember.objects.bulk_create(family, batch_size=2000)
    return people


def cards_load(
    programme: Programme, people: list[Customer], rng: random.Random, now: datetime
) -> dict[int, Card]:
    batch, _ = CardBatch.objects.get_or_create(
        code="DEMO-2026",
        defaults={
            "programme": programme,
            "name": "Demo plastic cards 2026",
            "prefix": "2700",
            "number_length": 13,
            "check_digit": CardBatch.CheckDigit.EAN13,
            "planned_size": len(people) + 200,
        },
    )
    cards = []
    for index, person in enumerate(people):
        payload = f"2700{index + 1:08d}"
        cards.append(
            Card(
                number=payload + ean13_check_digit(payload),
                programme=programme,
                batch=batch,
                customer=person,
                status=Card.Status.ACTIVE,
                issued_at=person.registered_at,
                activated_at=person.registered_at,
            )
        )
    for index in range(len(people), len(people) + 200):
        payload = f"2700{index + 1:08d}"
        cards.append(
            Card(number=payload + ean13_check_digit(payload), programme=programme, batch=batch)
        )
    Card.objects.bulk_create(cards, batch_size=2000)
    by_customer = {
        card.customer_id: card for card in Card.objects.filter(batch=batch, customer__isnull=False)
    }
    # A few cards were lost and blocked; the history still shows their purchases.
    blocked = []
    for card in rng.sample(list(by_customer.values()), k=max(1, len(people) // 200)):
        card.status, card.blocked_at, card.block_reason = (
            Card.Status.BLOCKED,
            now,
            "Reported lost by phone",
        )
        blocked.append(card)
    Card.objects.bulk_update(blocked, ["status", "blocked_at", "block_reason"])
    return by_customer
