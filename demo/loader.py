"""The demo coalition: a city's partners, stores, catalogue, customers and purchase history.

It lives in ``demo``, an outer app, because it reads and fills every core app (loyalty, crm,
promotions), and only the outer apps may depend on all of them. Loading is idempotent: every row has a
natural key, and the history is written only when the demo terminals have no receipts yet, all
in one transaction, so a second run (or a run after a failed one) changes nothing.
"""

from __future__ import annotations

import random
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crm.models import Consent, Customer, FamilyMember
from loyalty.models import (
    Account,
    Brand,
    Card,
    CardBatch,
    Category,
    Counter,
    CounterValue,
    Currency,
    EventType,
    LedgerEntry,
    Partner,
    Posting,
    Product,
    ProductList,
    Programme,
    Receipt,
    ReceiptLine,
    Store,
    Terminal,
    Tier,
    TierMembership,
)
from loyalty.money import allocate, line_amount, quantize
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_accounts_open,
    ledger_rollup,
    partner_account,
    postings_create,
)
from loyalty.validators import ean13_check_digit, tax_id_check_digits
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

# category code, name, parent code
CATEGORIES = [
    ("grocery", "Groceries", None),
    ("dairy", "Dairy", "grocery"),
    ("bakery", "Bakery", "grocery"),
    ("drinks", "Drinks", "grocery"),
    ("lemonade", "Lemonades", "drinks"),
    ("coffee", "Coffee and tea", "drinks"),
    ("home", "Home and DIY", None),
    ("tools", "Tools", "home"),
    ("paint", "Paint", "home"),
    ("bedroom", "Bedroom", "home"),
    ("beds", "Beds", "bedroom"),
    ("mattresses", "Mattresses", "bedroom"),
    ("sport", "Sports", None),
    ("footwear", "Sports footwear", "sport"),
    ("bikes", "Bicycles", "sport"),
    ("health", "Health", None),
    ("medicines", "Medicines", "health"),
    ("vitamins", "Vitamins", "health"),
    ("medical", "Medical services", "health"),
    ("services", "Services", None),
    ("internet", "Internet plans", "services"),
    ("tickets", "Tickets", "services"),
    ("bar", "Bar", "services"),
    ("fuel", "Fuel", None),
]

BRANDS = [
    "Prostokvashino",
    "Hlebny Dom",
    "Chernogolovka",
    "Dobry",
    "Jacobs",
    "Greenfield",
    "Bosch",
    "Makita",
    "Tikkurila",
    "Dulux",
    "Askona",
    "Ormatek",
    "Nike",
    "Adidas",
    "Stels",
    "Forward",
    "Evalar",
    "Solgar",
    "Nurofen",
    "NetWave",
    "Star Cinema",
    "FunLand",
    "Neon",
    "FuelPoint",
    "MegaMart Select",
]

# category code -> (brands, (min price, max price), product names, weighted?)
PRODUCT_TEMPLATES = {
    "dairy": (
        ["Prostokvashino", "MegaMart Select"],
        ("59.90", "249.90"),
        [
            "Milk 3.2% 1 l",
            "Kefir 1% 900 ml",
            "Cottage cheese 5% 200 g",
            "Sour cream 20% 300 g",
            "Butter 82.5% 180 g",
            "Yogurt strawberry 125 g",
        ],
        False,
    ),
    "bakery": (
        ["Hlebny Dom", "MegaMart Select"],
        ("29.90", "189.90"),
        ["Rye bread", "Baguette", "Croissant", "Cinnamon roll", "Whole wheat loaf"],
        False,
    ),
    "lemonade": (
        ["Chernogolovka", "Dobry"],
        ("49.90", "149.90"),
        [
            "Lemonade Tarhun 0.5 l",
            "Lemonade Duchess 1 l",
            "Cola 0.5 l",
            "Orange soda 1.5 l",
            "Cream soda 0.5 l",
        ],
        False,
    ),
    "coffee": (
        ["Jacobs", "Greenfield"],
        ("199.00", "899.00"),
        ["Ground coffee 250 g", "Coffee beans 1 kg", "Green tea 25 bags", "Black tea 100 bags"],
        False,
    ),
    "tools": (
        ["Bosch", "Makita"],
        ("990.00", "24990.00"),
        ["Cordless drill", "Angle grinder", "Jigsaw", "Screwdriver set", "Laser level"],
        False,
    ),
    "paint": (
        ["Tikkurila", "Dulux"],
        ("590.00", "6990.00"),
        ["Interior paint 2.7 l", "Facade paint 9 l", "Primer 3 l", "Varnish 0.9 l"],
        False,
    ),
    "beds": (
        ["Askona", "Ormatek"],
        ("14990.00", "69990.00"),
        ["Bed Classic 160x200", "Bed Nordic 140x200", "Bed Loft 180x200"],
        False,
    ),
    "mattresses": (
        ["Askona", "Ormatek"],
        ("7990.00", "49990.00"),
        ["Mattress Comfort 160x200", "Mattress Ortho 140x200", "Mattress Latex 180x200"],
        False,
    ),
    "footwear": (
        ["Nike", "Adidas"],
        ("3990.00", "14990.00"),
        ["Running shoes", "Trail shoes", "Football boots", "Sneakers"],
        False,
    ),
    "bikes": (
        ["Stels", "Forward"],
        ("12990.00", "89990.00"),
        ["Mountain bike 27.5", "City bike 28", "Kids bike 20"],
        False,
    ),
    "medicines": (
        ["Nurofen", "Evalar"],
        ("89.00", "899.00"),
        ["Ibuprofen 200 mg", "Cough syrup", "Nasal spray", "Throat lozenges"],
        False,
    ),
    "vitamins": (
        ["Evalar", "Solgar"],
        ("299.00", "2490.00"),
        ["Vitamin D3", "Omega-3", "Magnesium B6", "Multivitamin"],
        False,
    ),
    "medical": (
        ["MegaMart Select"],
        ("1500.00", "6500.00"),
        ["Therapist visit", "Blood test", "Ultrasound", "Dentist check-up"],
        False,
    ),
    "internet": (
        ["NetWave"],
        ("550.00", "1490.00"),
        ["Home 100 Mbit/s month", "Home 500 Mbit/s month", "TV package month"],
        False,
    ),
    "tickets": (
        ["Star Cinema", "FunLand"],
        ("350.00", "2500.00"),
        [
            "Cinema ticket",
            "Cinema ticket VIP",
            "Park day pass",
            "Park family pass",
            "Popcorn large",
        ],
        False,
    ),
    "bar": (
        ["Neon"],
        ("250.00", "1500.00"),
        ["Entry ticket", "Cocktail", "Craft beer 0.5 l", "Table deposit"],
        False,
    ),
    "fuel": (
        ["FuelPoint"],
        ("58.50", "74.90"),
        ["AI-92 per litre", "AI-95 per litre", "Diesel per litre"],
        True,
    ),
}

PARTNER_CATEGORIES = {
    "megamart": ["dairy", "bakery", "lemonade", "coffee", "tools", "vitamins"],
    "fresh": ["dairy", "bakery", "lemonade", "coffee"],
    "homebuild": ["tools", "paint", "beds", "mattresses"],
    "sportline": ["footwear", "bikes", "lemonade"],
    "healthplus": ["medicines", "vitamins"],
    "medcity": ["medical"],
    "netwave": ["internet"],
    "funland": ["tickets", "lemonade"],
    "neon": ["bar"],
    "starcinema": ["tickets", "lemonade"],
    "coffeebean": ["coffee", "bakery"],
    "fuelpoint": ["fuel", "coffee", "lemonade"],
}

# How often customers shop at each partner (relative weights).
PARTNER_POPULARITY = {
    "megamart": 30,
    "fresh": 25,
    "homebuild": 6,
    "sportline": 4,
    "healthplus": 12,
    "medcity": 2,
    "netwave": 3,
    "funland": 2,
    "neon": 3,
    "starcinema": 5,
    "coffeebean": 15,
    "fuelpoint": 12,
}

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

TIERS = [
    ("base", "Base", 1, "0.00"),
    ("silver", "Silver", 2, "15000.00"),
    ("gold", "Gold", 3, "50000.00"),
]


@dataclass
class DemoSummary:
    created: bool
    partners: int
    stores: int
    terminals: int
    products: int
    customers: int
    cards: int
    receipts: int
    postings: int


def load_demo(
    *, customers: int = 2000, months: int = 4, seed: int = 2026, now: datetime | None = None
) -> DemoSummary:
    """Load the demo coalition; return what is there. Idempotent (see the module docstring)."""
    rng = random.Random(seed)
    now = now or timezone.now()
    with transaction.atomic():
        programme, currency = _programme()
        partners = _partners()
        stores, terminals = _stores_and_terminals(partners, rng)
        products_by_partner = _catalogue(partners, rng)
        _promotions(programme, currency)
        _lifecycle_promotions(programme, currency)
        _gift_certificates(programme, now)
        counter = Counter.objects.get_or_create(
            programme=programme,
            code="purchases",
            defaults={"name": "Purchases, all time", "unit": Counter.Unit.PURCHASES},
        )[0]
        demo_terminal_ids = [t.pk for t in terminals]
        created = not Receipt.objects.filter(terminal_id__in=demo_terminal_ids).exists()
        if created and not Customer.objects.filter(source=Customer.Source.DEMO).exists():
            people = _customers(customers, rng, now)
            cards = _cards(programme, people, rng, now)
            _history(
                programme,
                currency,
                counter,
                people,
                cards,
                terminals,
                products_by_partner,
                rng,
                now,
                months,
            )
            ledger_rollup()
    return DemoSummary(
        created=created,
        partners=len(partners),
        stores=len(stores),
        terminals=len(terminals),
        products=Product.objects.count(),
        customers=Customer.objects.filter(source=Customer.Source.DEMO).count(),
        cards=Card.objects.filter(batch__code__startswith="DEMO-").count(),
        receipts=Receipt.objects.filter(terminal_id__in=demo_terminal_ids).count(),
        postings=Posting.objects.count(),
    )


def _programme() -> tuple[Programme, Currency]:
    programme, _ = Programme.objects.get_or_create(
        code=PROGRAMME_CODE,
        defaults={
            "name": "City Bonus",
            "max_spend_percent": Decimal("50.00"),
            "min_money_payment": Decimal("1.00"),
        },
    )
    currency, _ = Currency.objects.get_or_create(
        code=CURRENCY_CODE,
        defaults={
            "programme": programme,
            "name": "Bonus points",
            "decimal_places": 2,
            "rub_rate": Decimal("1.0000"),
            "is_default": True,
        },
    )
    for code, name, rank, threshold in TIERS:
        Tier.objects.get_or_create(
            programme=programme,
            code=code,
            defaults={"name": name, "rank": rank, "threshold": Decimal(threshold)},
        )
    return programme, currency


def _partners() -> list[Partner]:
    partners = []
    for index, (code, name, legal_name, trade, price, _count, _channels) in enumerate(PARTNERS):
        partner, _ = Partner.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "legal_name": legal_name,
                "tax_id": tax_id_check_digits(f"5406{index + 1:05d}"),
                "trade": trade,
                "point_price": Decimal(price),
                "contact_email": f"loyalty@{code}.example",
                "joined_at": date(2025, 1 + index % 12, 1),
            },
        )
        partners.append(partner)
    return partners


def _stores_and_terminals(
    partners: list[Partner], rng: random.Random
) -> tuple[list[Store], list[Terminal]]:
    stores, terminals = [], []
    for partner, (_code, _name, _legal, _trade, _price, count, channels) in zip(
        partners, PARTNERS, strict=True
    ):
        for number in range(1, count + 1):
            channel = channels[number - 1]
            code = f"{partner.code.upper()}-{number:02d}"
            label = {
                "store": f"{partner.name} #{number}",
                "webshop": f"{partner.name} online",
                "app": f"{partner.name} app",
            }[channel]
            store, _ = Store.objects.get_or_create(
                code=code,
                defaults={
                    "partner": partner,
                    "name": label,
                    "channel": channel,
                    "city": "Novosibirsk",
                    "address": ""
                    if channel != "store"
                    else f"{rng.choice(STREETS)}, {rng.randint(1, 180)}",
                    "timezone": CITY_TZ,
                    "opened_at": date(2024, 1 + number % 12, 1),
                },
            )
            stores.append(store)
            registers = 1 if channel != "store" else 1 + (number + len(partner.code)) % 3
            for register in range(1, registers + 1):
                terminal, _ = Terminal.objects.get_or_create(
                    code=f"{code}-T{register}",
                    defaults={"store": store, "name": f"{label}, register {register}"},
                )
                terminals.append(terminal)
    return stores, terminals


def _catalogue(partners: list[Partner], rng: random.Random) -> dict[int, list[Product]]:
    categories: dict[str, Category] = {}
    for code, name, parent in CATEGORIES:
        categories[code], _ = Category.objects.get_or_create(
            code=code, defaults={"name": name, "parent": categories.get(parent) if parent else None}
        )
    brands = {name: Brand.objects.get_or_create(name=name)[0] for name in BRANDS}
    by_category: dict[str, list[Product]] = defaultdict(list)
    serial = 0
    for category_code, (brand_names, _prices, names, _weighted) in PRODUCT_TEMPLATES.items():
        for name in names:
            for brand_name in brand_names:
                serial += 1
                payload = f"460{serial:09d}"
                sku = payload + ean13_check_digit(payload)
                product, _ = Product.objects.get_or_create(
                    sku=sku,
                    partner=None,
                    defaults={
                        "name": f"{brand_name} {name}",
                        "category": categories[category_code],
                        "brand": brands[brand_name],
                    },
                )
                by_category[category_code].append(product)
    gift_card, _ = Product.objects.get_or_create(
        sku="GIFT-CARD-1000",
        partner=None,
        defaults={"name": "Gift card 1000 RUB", "is_gift_card": True},
    )
    lists = {
        "summer-drinks": ("Summer drinks", by_category["lemonade"]),
        "bedroom-sets": ("Beds and mattresses", by_category["beds"] + by_category["mattresses"]),
    }
    for code, (name, products) in lists.items():
        product_list, made = ProductList.objects.get_or_create(code=code, defaults={"name": name})
        if made:
            product_list.products.set(products)
    return {
        partner.pk: [
            product
            for category in PARTNER_CATEGORIES[partner.code]
            for product in by_category[category]
        ]
        for partner in partners
    }


def _promotions(programme: Programme, currency: Currency) -> None:
    promotion, made = Promotion.objects.get_or_create(
        programme=programme,
        name="Base 2% bonus",
        defaults={
            "description": "2% of the amount paid in money comes back as points at every partner.",
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


def _lifecycle_promotions(programme: Programme, currency: Currency) -> None:
    review, _made = EventType.objects.get_or_create(
        code="app_review", defaults={"name": "Review written in the app"}
    )
    starts = datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo(CITY_TZ))
    for spec in LIFECYCLE:
        spec = dict(spec)
        reward = spec.pop("reward")
        if spec["trigger"] == "event":
            spec["event_type"] = review
        promotion, made = Promotion.objects.get_or_create(
            programme=programme,
            name=spec.pop("name"),
            defaults={**spec, "status": Promotion.Status.ACTIVE, "starts_at": starts},
        )
        if made:
            Reward.objects.create(
                promotion=promotion, kind=Reward.Kind.POINTS_FIXED, currency=currency, **reward
            )


def _gift_certificates(programme: Programme, now: datetime) -> None:
    """Two series: printed 3000-rouble certificates (20, 5 sold) and electronic 1000-rouble
    single-use ones (5, active at once)."""
    from loyalty.models import CertificateSeries
    from loyalty.services.certificates import certificate_activate, certificates_emit

    printed, made = CertificateSeries.objects.get_or_create(
        code="DEMO-GIFT-3000",
        defaults={
            "programme": programme,
            "name": "Gift certificate 3000",
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
            "name": "E-certificate 1000 (single use)",
            "kind": CertificateSeries.Kind.CERTIFICATE,
            "nominal": Decimal("1000.00"),
            "activation": CertificateSeries.Activation.ON_EMISSION,
            "lifetime_days": 180,
            "single_use": True,
        },
    )
    if made:
        certificates_emit(electronic, 5, at=now)


def _customers(count: int, rng: random.Random, now: datetime) -> list[Customer]:
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
        people.append(
            Customer(
                first_name=first,
                last_name=last,
                phone=phone,
                email=f"{first.lower()}.{last.lower()}.{index}@mail.example"
                if rng.random() < 0.6
                else None,
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
                    name=rng.choice(FEMALE_FIRST + MALE_FIRST),
                    birth_date=date(
                        rng.randint(2010, 2024), rng.randint(1, 12), rng.randint(1, 28)
                    ),
                )
            )
    Consent.objects.bulk_create(consents, batch_size=2000)
    FamilyMember.objects.bulk_create(family, batch_size=2000)
    return people


def _cards(
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


def _history(
    programme, currency, counter, people, cards, terminals, products_by_partner, rng, now, months
):
    """Purchases of the last ``months`` months, with points earned and some spent, week by week."""
    tz = zoneinfo.ZoneInfo(CITY_TZ)
    start = now - timedelta(days=30 * months)
    weights = [
        PARTNER_POPULARITY[t.store.partner.code] / max(1, _registers_of(t, terminals))
        for t in terminals
    ]
    accounts = customer_accounts_open([p.pk for p in people], currency)
    partner_accounts = {
        t.store.partner_id: partner_account(t.store.partner, currency) for t in terminals
    }
    actor = Actor.system(DEMO_ACTOR)
    sequence: dict[int, int] = defaultdict(int)
    lots: dict[int, list[list]] = defaultdict(
        list
    )  # customer id -> [[lot entry, remainder], ...] oldest first
    spend_total: dict[int, Decimal] = defaultdict(Decimal)
    purchases: dict[int, int] = defaultdict(int)

    plans = []
    for person in people:
        first_day = max(start, person.registered_at)
        visits = rng.randint(0, 14)
        for _ in range(visits):
            moment = first_day + (now - first_day) * rng.random()
            local = moment.astimezone(tz)
            local = datetime.combine(
                local.date(), time(rng.randint(9, 21), rng.randint(0, 59), rng.randint(0, 59)), tz
            )
            if local >= now or local <= person.registered_at:
                continue
            plans.append((local, person))
    plans.sort(key=lambda item: (item[0], item[1].pk))

    week = timedelta(days=7)
    cursor = start
    while cursor < now:
        chunk = [plan for plan in plans if cursor <= plan[0] < cursor + week]
        cursor += week
        if not chunk:
            continue
        receipts, lines_by_receipt, specs = [], [], []
        for sold_at, person in chunk:
            terminal = rng.choices(terminals, weights=weights)[0]
            partner = terminal.store.partner
            sequence[terminal.pk] += 1
            lines = _lines(rng, products_by_partner[partner.pk])
            total = sum((line.amount for line in lines), Decimal("0.00"))
            available = sum((rem for _lot, rem in lots[person.pk]), Decimal("0"))
            points_spent = Decimal("0.00")
            if available >= 50 and rng.random() < 0.25 and cards[person.pk].can_spend:
                cap = quantize(total * programme.max_spend_percent / 100)
                cap = min(cap, total - programme.min_money_payment)
                points_spent = max(
                    Decimal("0.00"),
                    min(quantize(available * Decimal(rng.choice(["0.5", "1"]))), cap),
                )
            for line, part in zip(
                lines, allocate(points_spent, [ln.amount for ln in lines]), strict=True
            ):
                line.points_spent = part
                line.to_pay = line.amount - part
            to_pay = total - points_spent
            earned = quantize(to_pay * BASE_PERCENT / 100)
            for line, part in zip(
                lines, allocate(earned, [ln.to_pay for ln in lines]), strict=True
            ):
                line.points_earned = part
            receipt = Receipt(
                terminal=terminal,
                store=terminal.store,
                partner=partner,
                receipt_id=f"{sequence[terminal.pk]:06d}",
                customer=person,
                card=cards[person.pk],
                currency=currency,
                sold_at=sold_at,
                recorded_at=sold_at,
                total=total,
                points_spent=points_spent,
                to_pay=to_pay,
                points_earned=earned,
            )
            receipts.append(receipt)
            lines_by_receipt.append(lines)
            purchases[person.pk] += 1
            spend_total[person.pk] += to_pay
            account = accounts[person.pk]
            if points_spent:
                legs, left = [], points_spent
                for lot in lots[person.pk]:
                    if not left:
                        break
                    take = min(lot[1], left)
                    if take:
                        legs.append(Leg(account=account, amount=-take, lot=lot[0]))
                        lot[1] -= take
                        left -= take
                lots[person.pk] = [lot for lot in lots[person.pk] if lot[1]]
                legs.append(Leg(account=partner_accounts[partner.pk], amount=points_spent))
                specs.append(
                    (
                        PostingSpec(
                            kind=Posting.Kind.SPEND,
                            cause=Posting.Cause.RECEIPT,
                            actor=actor,
                            legs=legs,
                            partner=partner,
                            receipt=receipt,
                            occurred_at=sold_at,
                        ),
                        None,
                    )
                )
            if earned:
                spec = PostingSpec(
                    kind=Posting.Kind.EARN,
                    cause=Posting.Cause.RECEIPT,
                    actor=actor,
                    partner=partner,
                    receipt=receipt,
                    occurred_at=sold_at,
                    legs=[
                        Leg(
                            account=account,
                            amount=earned,
                            active_at=sold_at,
                            expires_at=sold_at + timedelta(days=POINT_LIFETIME_DAYS),
                        ),
                        Leg(account=partner_accounts[partner.pk], amount=-earned),
                    ],
                )
                specs.append((spec, person.pk))
        Receipt.objects.bulk_create(receipts, batch_size=1000)
        all_lines = []
        for receipt, lines in zip(receipts, lines_by_receipt, strict=True):
            for line in lines:
                line.receipt = receipt
                all_lines.append(line)
        ReceiptLine.objects.bulk_create(all_lines, batch_size=2000)
        postings_create([spec for spec, _owner in specs])
        for spec, owner in specs:
            if owner is not None:
                lot_entry: LedgerEntry = spec.entries[0]
                lots[owner].append([lot_entry, lot_entry.amount])

    _tiers_and_counters(programme, counter, people, spend_total, purchases, now)


def _registers_of(terminal: Terminal, terminals: list[Terminal]) -> int:
    return sum(1 for t in terminals if t.store.partner_id == terminal.store.partner_id)


def _lines(rng: random.Random, products: list[Product]) -> list[ReceiptLine]:
    lines = []
    for number, product in enumerate(
        rng.sample(products, k=min(len(products), rng.choice([1, 1, 2, 2, 3, 4, 5]))), start=1
    ):
        _brands, (low, high), _names, weighted = PRODUCT_TEMPLATES[product.category.code]
        price = quantize(
            Decimal(low) + (Decimal(high) - Decimal(low)) * Decimal(rng.randint(0, 20)) / 20
        )
        price = price - Decimal("0.10") if price > 1 and price % 1 == 0 else price
        quantity = (
            Decimal(rng.randint(10, 45)) if weighted else Decimal(rng.choice([1, 1, 1, 2, 3]))
        )
        amount = line_amount(quantity, price)
        lines.append(
            ReceiptLine(
                line_no=number,
                sku=product.sku,
                product=product,
                quantity=quantity,
                price=price,
                amount=amount,
                to_pay=amount,
            )
        )
    return lines


def _tiers_and_counters(programme, counter, people, spend_total, purchases, now):
    tiers = list(Tier.objects.filter(programme=programme).order_by("-threshold"))
    memberships, values = [], []
    for person in people:
        spent = spend_total.get(person.pk, Decimal("0.00"))
        tier = next(t for t in tiers if spent >= t.threshold)
        memberships.append(
            TierMembership(
                customer=person, programme=programme, tier=tier, qualifying_amount=spent, since=now
            )
        )
        if purchases.get(person.pk):
            values.append(
                CounterValue(counter=counter, customer=person, value=Decimal(purchases[person.pk]))
            )
    TierMembership.objects.bulk_create(memberships, batch_size=2000)
    CounterValue.objects.bulk_create(values, batch_size=2000)


def demo_account_ids() -> list[int]:
    return list(Account.objects.filter(currency__code=CURRENCY_CODE).values_list("pk", flat=True))
