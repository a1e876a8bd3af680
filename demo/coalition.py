"""The demo coalition: its programme (currency and tiers), partners, stores and terminals,
promotions (a base bonus and the customer's life) and gift certificates."""

from __future__ import annotations

import random
import zoneinfo
from datetime import date, datetime
from decimal import Decimal

from demo.language import say
from loyalty.models import Currency, EventType, Partner, Programme, Store, Terminal, Tier
from loyalty.validators import tax_id_check_digits
from promotions.models import Promotion, Reward

PROGRAMME_CODE = "city"
CURRENCY_CODE = "bonus"
BASE_PERCENT = Decimal("2")
POINT_LIFETIME_DAYS = 365
CITY_TZ = "Asia/Novosibirsk"
DEMO_ACTOR = "demo"

# code, brand name, legal name, trade, settlement price of a point, stores, channels
PARTNERS = [
    (
        "megamart",
        "MegaMart",
        'LLC "MegaMart Retail"',
        "hypermarket",
        "1.00",
        5,
        ["store", "store", "store", "store", "webshop"],
    ),
    ("fresh", "Fresh Corner", 'LLC "Fresh Corner"', "supermarket", "1.00", 4, ["store"] * 4),
    (
        "homebuild",
        "HomeBuild",
        'JSC "HomeBuild Siberia"',
        "diy",
        "0.95",
        3,
        ["store", "store", "webshop"],
    ),
    ("sportline", "SportLine", 'LLC "SportLine"', "sports", "1.00", 3, ["store"] * 3),
    ("healthplus", "Health+ Pharmacy", 'LLC "Health Plus"', "pharmacy", "1.00", 5, ["store"] * 5),
    ("medcity", "MedCity Clinic", 'LLC "MedCity"', "clinic", "0.90", 2, ["store"] * 2),
    ("netwave", "NetWave", 'JSC "NetWave Telecom"', "isp", "0.80", 2, ["webshop", "app"]),
    ("funland", "FunLand", 'LLC "FunLand Park"', "amusement_park", "1.00", 2, ["store"] * 2),
    ("neon", "Neon Club", 'LLC "Neon Nights"', "night_club", "1.00", 2, ["store"] * 2),
    (
        "starcinema",
        "Star Cinema",
        'LLC "Star Cinema"',
        "cinema",
        "1.00",
        3,
        ["store", "store", "app"],
    ),
    ("coffeebean", "Coffee Bean", 'LLC "Coffee Bean"', "cafe", "1.00", 4, ["store"] * 4),
    ("fuelpoint", "FuelPoint", 'LLC "FuelPoint Siberia"', "fuel", "0.90", 3, ["store"] * 3),
]

STREETS = [
    "Krasny prospekt",
    "Lenina st.",
    "Sovetskaya st.",
    "Kirova st.",
    "Gogolya st.",
    "Vokzalnaya magistral",
    "Dusi Kovalchuk st.",
    "Bolshevistskaya st.",
    "Titova st.",
    "Zolotodolinskaya st.",
    "Vatutina st.",
]


TIERS = [
    ("base", "Base", 1, "0.00"),
    ("silver", "Silver", 2, "15000.00"),
    ("gold", "Gold", 3, "50000.00"),
]


def programme_load() -> tuple[Programme, Currency]:
    programme, _ = Programme.objects.get_or_create(
        code=PROGRAMME_CODE,
        defaults={
            "name": say("City Bonus"),
            "max_spend_percent": Decimal("50.00"),
            "min_money_payment": Decimal("1.00"),
        },
    )
    currency, _ = Currency.objects.get_or_create(
        code=CURRENCY_CODE,
        defaults={
            "programme": programme,
            "name": say("Bonus points"),
            "decimal_places": 2,
            "rub_rate": Decimal("1.0000"),
            "is_default": True,
        },
    )
    for code, name, rank, threshold in TIERS:
        Tier.objects.get_or_create(
            programme=programme,
            code=code,
            defaults={"name": say(name), "rank": rank, "threshold": Decimal(threshold)},
        )
    return programme, currency


def partners_load() -> list[Partner]:
    partners = []
    for index, (code, name, legal_name, trade, price, _count, _channels) in enumerate(PARTNERS):
        partner, _ = Partner.objects.get_or_create(
            code=code,
            defaults={
                "name": say(name),
                "legal_name": say(legal_name),
                "tax_id": tax_id_check_digits(f"5406{index + 1:05d}"),
                "trade": trade,
                "point_price": Decimal(price),
                "contact_email": f"loyalty@{code}.example",
                "joined_at": date(2025, 1 + index % 12, 1),
            },
        )
        partners.append(partner)
    return partners


def stores_and_terminals_load(
    partners: list[Partner], rng: random.Random
) -> tuple[list[Store], list[Terminal]]:
    stores, terminals = [], []
    for partner, (_code, _name, _legal, _trade, _price, count, channels) in zip(
        partners, PARTNERS, strict=True
    ):
        for number in range(1, count + 1):
            channel = channels[number - 1]
            code = f"{partner.code.upper()}-{number:02d}"
            label = say(
                {
                    "store": f"{partner.name} #{number}",
                    "webshop": f"{partner.name} online",
                    "app": f"{partner.name} app",
                }[channel]
            )
            store, _ = Store.objects.get_or_create(
                code=code,
                defaults={
                    "partner": partner,
                    "name": label,
                    "channel": channel,
                    "city": say("Novosibirsk"),
                    "address": ""
                    if channel != "store"
                    else f"{say(rng.choice(STREETS))}, {rng.randint(1, 180)}",
                    "timezone": CITY_TZ,
                    "opened_at": date(2024, 1 + number % 12, 1),
                },
            )
            stores.append(store)
            registers = 1 if channel != "store" else 1 + (number + len(partner.code)) % 3
            for register in range(1, registers + 1):
                terminal, _ = Terminal.objects.get_or_create(
                    code=f"{code}-T{register}",
                    defaults={"store": store, "name": say(f"{label}, register {register}")},
                )
                terminals.append(terminal)
    return stores, terminals


def promotions_load(programme: Programme, currency: Currency) -> None:
    promotion, made = Promotion.objects.get_or_create(
        programme=programme,
        name=say("Base 2% bonus"),
        defaults={
            "description": say(
                "2% of the amount paid in money comes back as points at every partner."
            ),
            "status": Promotion.Status.ACTIVE,
            "priority": 0,
            "starts_at": datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo(CITY_TZ)),
        },
    )
    if made:
        Reward.objects.create(
            promotion=promotion,
            kind=Reward.Kind.POINTS_PERCENT,
            value=BASE_PERCENT,
            currency=currency,
            lifetime_days=POINT_LIFETIME_DAYS,
        )


# Promotions that follow a customer's life (mechanics.md items 9-11): a welcome bonus with a
# message, a birthday bonus, refer-a-friend, points for a review reported by the app.
LIFECYCLE = [
    {
        "name": "Welcome +200",
        "trigger": "registration",
        "customer_message": "Welcome, {first_name}! {points} points are yours until {expires}.",
        "reward": {"value": Decimal("200"), "lifetime_days": 30},
    },
    {
        "name": "Birthday +300",
        "trigger": "date",
        "trigger_date": "birthday",
        "trigger_offset_days": -3,
        "customer_message": "Happy birthday, {first_name}! {points} points until {expires}.",
        "reward": {"value": Decimal("300"), "expires_days_after_date": 7},
    },
    {
        "name": "Refer a friend: the newcomer +100",
        "trigger": "registration",
        "referred_only": True,
        "reward": {"value": Decimal("100")},
    },
    {
        "name": "Refer a friend: the friend +200 after the first purchase",
        "trigger": "first_purchase",
        "referred_only": True,
        "reward": {"value": Decimal("200"), "beneficiary": "referrer"},
    },
    {
        "name": "A review in the app +20",
        "trigger": "event",
        "reward": {"value": Decimal("20")},
    },
]


def lifecycle_promotions_load(programme: Programme, currency: Currency) -> None:
    review, _made = EventType.objects.get_or_create(
        code="app_review", defaults={"name": say("Review written in the app")}
    )
    starts = datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo(CITY_TZ))
    for spec in LIFECYCLE:
        spec = dict(spec)
        reward = spec.pop("reward")
        if "customer_message" in spec:
            spec["customer_message"] = say(spec["customer_message"])
        if spec["trigger"] == "event":
            spec["event_type"] = review
        promotion, made = Promotion.objects.get_or_create(
            programme=programme,
            name=say(spec.pop("name")),
            defaults={**spec, "status": Promotion.Status.ACTIVE, "starts_at": starts},
        )
        if made:
            Reward.objects.create(
                promotion=promotion, kind=Reward.Kind.POINTS_FIXED, currency=currency, **reward
            )


def gift_certificates_load(programme: Programme, now: datetime) -> None:
    """Two series: printed 3000-rouble certificates (20, 5 sold) and electronic 1000-rouble
    single-use ones (5, active at once)."""
    from loyalty.models import CertificateSeries
    from loyalty.services.certificates import certificate_activate, certificates_emit

    printed, made = CertificateSeries.objects.get_or_create(
        code="DEMO-GIFT-3000",
        defaults={
            "programme": programme,
            "name": say("Gift certificate 3000"),
            "nominal": Decimal("3000.00"),
            "lifetime_days": 365,
        },
    )
    if made:
        for certificate in certificates_emit(printed, 20, at=now)[:5]:
            certificate_activate(certificate, at=now)
    electronic, made = CertificateSeries.objects.get_or_create(
        code="DEMO-EGIFT-1000",
        defaults={
            "programme": programme,
            "name": say("E-certificate 1000 (single use)"),
            "kind": CertificateSeries.Kind.CERTIFICATE,
            "nominal": Decimal("1000.00"),
            "activation": CertificateSeries.Activation.ON_EMISSION,
            "lifetime_days": 180,
            "single_use": True,
        },
    )
    if made:
        certificates_emit(electronic, 5, at=now)
