"""The demo catalogue: categories, brands, products (with the price ranges the history sells them
at), product lists, and what each partner sells."""

from __future__ import annotations

import random
from collections import defaultdict

from demo.language import product_name, say
from loyalty.models import Brand, Category, Partner, Product, ProductList
from loyalty.validators import ean13_check_digit

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


def catalogue_load(partners: list[Partner], rng: random.Random) -> dict[int, list[Product]]:
    categories: dict[str, Category] = {}
    for code, name, parent in CATEGORIES:
        categories[code], _ = Category.objects.get_or_create(
            code=code,
            defaults={"name": say(name), "parent": categories.get(parent) if parent else None},
        )
    brands = {name: Brand.objects.get_or_create(name=say(name))[0] for name in BRANDS}
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
                        "name": product_name(brand_name, name),
                        "category": categories[category_code],
                        "brand": brands[brand_name],
                    },
                )
                by_category[category_code].append(product)
    gift_card, _ = Product.objects.get_or_create(
        sku="GIFT-CARD-1000",
        partner=None,
        defaults={"name": say("Gift card 1000 RUB"), "is_gift_card": True},
    )
    lists = {
        "summer-drinks": ("Summer drinks", by_category["lemonade"]),
        "bedroom-sets": ("Beds and mattresses", by_category["beds"] + by_category["mattresses"]),
    }
    for code, (name, products) in lists.items():
        product_list, made = ProductList.objects.get_or_create(
            code=code, defaults={"name": say(name)}
        )
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
