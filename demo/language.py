"""The demo coalition's data in the programme's language: English by default, Russian with
``manage.py demo --language ru`` (or ``LANGUAGE_CODE=ru``). The loaders name everything through
``say``; codes, SKUs, phone numbers and e-mails stay as they are, so a store, a product or a
customer is the same row in either language (a demo already loaded keeps its names)."""

from __future__ import annotations

import re
from contextlib import contextmanager

_language = "en"

RUSSIAN = {
    # The programme, its currency, tiers and counter
    "City Bonus": "Городской бонус",
    "Bonus points": "Бонусные баллы",
    "Base": "Базовый",
    "Silver": "Серебряный",
    "Gold": "Золотой",
    "Purchases, all time": "Покупки за всё время",
    # The RFM scheme and the cells of its standard map
    "Yearly RFM": "RFM за год",
    "Champions": "Чемпионы",
    "Loyal": "Лояльные",
    "Potential loyalists": "Потенциально лояльные",
    "New customers": "Новые покупатели",
    "Promising": "Перспективные",
    "Need attention": "Требуют внимания",
    "About to sleep": "Засыпающие",
    "At risk": "Под угрозой ухода",
    "Can't lose them": "Нельзя потерять",
    "Hibernating": "Спящие",
    "Lost": "Потерянные",
    # Partners (brand, legal name) and the city
    "MegaMart": "МегаМарт",
    'LLC "MegaMart Retail"': "ООО «МегаМарт Ритейл»",
    "Fresh Corner": "Свежий угол",
    'LLC "Fresh Corner"': "ООО «Свежий угол»",
    "HomeBuild": "ДомСтрой",
    'JSC "HomeBuild Siberia"': "АО «ДомСтрой Сибирь»",
    "SportLine": "СпортЛайн",
    'LLC "SportLine"': "ООО «СпортЛайн»",
    "Health+ Pharmacy": "Аптека «Здоровье+»",
    'LLC "Health Plus"': "ООО «Здоровье Плюс»",
    "MedCity Clinic": "Клиника «МедСити»",
    'LLC "MedCity"': "ООО «МедСити»",
    "NetWave": "НетВолна",
    'JSC "NetWave Telecom"': "АО «НетВолна Телеком»",
    "FunLand": "Парк «Страна чудес»",
    'LLC "FunLand Park"': "ООО «Парк Страна чудес»",
    "Neon Club": "Клуб «Неон»",
    'LLC "Neon Nights"': "ООО «Неоновые ночи»",
    "Star Cinema": "Кинотеатр «Звезда»",
    'LLC "Star Cinema"': "ООО «Кинотеатр Звезда»",
    "Coffee Bean": "Кофейное зерно",
    'LLC "Coffee Bean"': "ООО «Кофейное зерно»",
    "FuelPoint": "ТопливоПлюс",
    'LLC "FuelPoint Siberia"': "ООО «ТопливоПлюс Сибирь»",
    "Novosibirsk": "Новосибирск",
    "Krasny prospekt": "Красный проспект",
    "Lenina st.": "ул. Ленина",
    "Sovetskaya st.": "ул. Советская",
    "Kirova st.": "ул. Кирова",
    "Gogolya st.": "ул. Гоголя",
    "Vokzalnaya magistral": "Вокзальная магистраль",
    "Dusi Kovalchuk st.": "ул. Дуси Ковальчук",
    "Bolshevistskaya st.": "ул. Большевистская",
    "Titova st.": "ул. Титова",
    "Zolotodolinskaya st.": "ул. Золотодолинская",
    "Vatutina st.": "ул. Ватутина",
    # Promotions, the event type and gift certificates
    "Base 2% bonus": "Базовый бонус 2%",
    "2% of the amount paid in money comes back as points at every partner.": (
        "2% от суммы, оплаченной деньгами, возвращаются баллами у любого партнёра."
    ),
    "Welcome +200": "Добро пожаловать: +200",
    "Welcome, {first_name}! {points} points are yours until {expires}.": (
        "Добро пожаловать, {first_name}! Вам начислено баллов: {points}, они действуют до {expires}."
    ),
    "Birthday +300": "День рождения: +300",
    "Happy birthday, {first_name}! {points} points until {expires}.": (
        "С днём рождения, {first_name}! Вам начислено баллов: {points}, они действуют до {expires}."
    ),
    "Refer a friend: the newcomer +100": "Приведи друга: новичку +100",
    "Refer a friend: the friend +200 after the first purchase": (
        "Приведи друга: другу +200 после первой покупки"
    ),
    "A review in the app +20": "Отзыв в приложении: +20",
    "Review written in the app": "Отзыв в приложении",
    "Gift certificate 3000": "Подарочный сертификат на 3000",
    "E-certificate 1000 (single use)": "Электронный сертификат на 1000 (одноразовый)",
    # Categories
    "Groceries": "Продукты",
    "Dairy": "Молочные продукты",
    "Bakery": "Выпечка",
    "Drinks": "Напитки",
    "Lemonades": "Лимонады",
    "Coffee and tea": "Кофе и чай",
    "Home and DIY": "Дом и ремонт",
    "Tools": "Инструменты",
    "Paint": "Краски",
    "Bedroom": "Спальня",
    "Beds": "Кровати",
    "Mattresses": "Матрасы",
    "Sports": "Спорт",
    "Sports footwear": "Спортивная обувь",
    "Bicycles": "Велосипеды",
    "Health": "Здоровье",
    "Medicines": "Лекарства",
    "Vitamins": "Витамины",
    "Medical services": "Медицинские услуги",
    "Services": "Услуги",
    "Internet plans": "Тарифы интернета",
    "Tickets": "Билеты",
    "Bar": "Бар",
    "Fuel": "Топливо",
    # Brands written in Latin letters in the English demo
    "Prostokvashino": "Простоквашино",
    "Hlebny Dom": "Хлебный дом",
    "Chernogolovka": "Черноголовка",
    "Dobry": "Добрый",
    "MegaMart Select": "МегаМарт Selection",
    "Neon": "Неон",
    # Products
    "Milk 3.2% 1 l": "Молоко 3,2% 1 л",
    "Kefir 1% 900 ml": "Кефир 1% 900 мл",
    "Cottage cheese 5% 200 g": "Творог 5% 200 г",
    "Sour cream 20% 300 g": "Сметана 20% 300 г",
    "Butter 82.5% 180 g": "Масло сливочное 82,5% 180 г",
    "Yogurt strawberry 125 g": "Йогурт клубничный 125 г",
    "Rye bread": "Хлеб ржаной",
    "Baguette": "Багет",
    "Croissant": "Круассан",
    "Cinnamon roll": "Булочка с корицей",
    "Whole wheat loaf": "Батон цельнозерновой",
    "Lemonade Tarhun 0.5 l": "Лимонад «Тархун» 0,5 л",
    "Lemonade Duchess 1 l": "Лимонад «Дюшес» 1 л",
    "Cola 0.5 l": "Кола 0,5 л",
    "Orange soda 1.5 l": "Апельсиновая газировка 1,5 л",
    "Cream soda 0.5 l": "Крем-сода 0,5 л",
    "Ground coffee 250 g": "Кофе молотый 250 г",
    "Coffee beans 1 kg": "Кофе в зёрнах 1 кг",
    "Green tea 25 bags": "Чай зелёный, 25 пакетиков",
    "Black tea 100 bags": "Чай чёрный, 100 пакетиков",
    "Cordless drill": "Аккумуляторная дрель",
    "Angle grinder": "Угловая шлифмашина",
    "Jigsaw": "Электролобзик",
    "Screwdriver set": "Набор отвёрток",
    "Laser level": "Лазерный уровень",
    "Interior paint 2.7 l": "Краска интерьерная 2,7 л",
    "Facade paint 9 l": "Краска фасадная 9 л",
    "Primer 3 l": "Грунтовка 3 л",
    "Varnish 0.9 l": "Лак 0,9 л",
    "Bed Classic 160x200": "Кровать «Классик» 160×200",
    "Bed Nordic 140x200": "Кровать «Нордик» 140×200",
    "Bed Loft 180x200": "Кровать «Лофт» 180×200",
    "Mattress Comfort 160x200": "Матрас «Комфорт» 160×200",
    "Mattress Ortho 140x200": "Матрас «Орто» 140×200",
    "Mattress Latex 180x200": "Матрас «Латекс» 180×200",
    "Running shoes": "Беговые кроссовки",
    "Trail shoes": "Кроссовки для трейла",
    "Football boots": "Бутсы",
    "Sneakers": "Кеды",
    "Mountain bike 27.5": "Горный велосипед 27,5",
    "City bike 28": "Городской велосипед 28",
    "Kids bike 20": "Детский велосипед 20",
    "Ibuprofen 200 mg": "Ибупрофен 200 мг",
    "Cough syrup": "Сироп от кашля",
    "Nasal spray": "Спрей для носа",
    "Throat lozenges": "Пастилки для горла",
    "Vitamin D3": "Витамин D3",
    "Omega-3": "Омега-3",
    "Magnesium B6": "Магний B6",
    "Multivitamin": "Мультивитамины",
    "Therapist visit": "Приём терапевта",
    "Blood test": "Анализ крови",
    "Ultrasound": "УЗИ",
    "Dentist check-up": "Осмотр стоматолога",
    "Home 100 Mbit/s month": "Домашний 100 Мбит/с, месяц",
    "Home 500 Mbit/s month": "Домашний 500 Мбит/с, месяц",
    "TV package month": "Пакет ТВ, месяц",
    "Cinema ticket": "Билет в кино",
    "Cinema ticket VIP": "Билет в кино VIP",
    "Park day pass": "Дневной абонемент в парк",
    "Park family pass": "Семейный абонемент в парк",
    "Popcorn large": "Попкорн большой",
    "Entry ticket": "Входной билет",
    "Cocktail": "Коктейль",
    "Craft beer 0.5 l": "Крафтовое пиво 0,5 л",
    "Table deposit": "Депозит за столик",
    "AI-92 per litre": "АИ-92, литр",
    "AI-95 per litre": "АИ-95, литр",
    "Diesel per litre": "Дизельное топливо, литр",
    "Gift card 1000 RUB": "Подарочная карта на 1000 ₽",
    "Summer drinks": "Летние напитки",
    "Beds and mattresses": "Кровати и матрасы",
    # Customers' first names and surnames
    "Anna": "Анна",
    "Maria": "Мария",
    "Elena": "Елена",
    "Olga": "Ольга",
    "Natalia": "Наталья",
    "Irina": "Ирина",
    "Svetlana": "Светлана",
    "Tatiana": "Татьяна",
    "Ekaterina": "Екатерина",
    "Daria": "Дарья",
    "Polina": "Полина",
    "Sofia": "София",
    "Alina": "Алина",
    "Victoria": "Виктория",
    "Ksenia": "Ксения",
    "Alexander": "Александр",
    "Dmitry": "Дмитрий",
    "Sergey": "Сергей",
    "Andrey": "Андрей",
    "Alexey": "Алексей",
    "Ivan": "Иван",
    "Mikhail": "Михаил",
    "Nikolai": "Николай",
    "Pavel": "Павел",
    "Artem": "Артём",
    "Maxim": "Максим",
    "Egor": "Егор",
    "Roman": "Роман",
    "Kirill": "Кирилл",
    "Denis": "Денис",
}
_SURNAMES = {
    "Ivanov": "Иванов",
    "Petrov": "Петров",
    "Smirnov": "Смирнов",
    "Kuznetsov": "Кузнецов",
    "Popov": "Попов",
    "Vasiliev": "Васильев",
    "Sokolov": "Соколов",
    "Mikhailov": "Михайлов",
    "Novikov": "Новиков",
    "Fedorov": "Фёдоров",
    "Morozov": "Морозов",
    "Volkov": "Волков",
    "Alekseev": "Алексеев",
    "Lebedev": "Лебедев",
    "Semenov": "Семёнов",
    "Egorov": "Егоров",
    "Pavlov": "Павлов",
    "Kozlov": "Козлов",
    "Stepanov": "Степанов",
    "Nikolaev": "Николаев",
}
RUSSIAN.update(_SURNAMES)
RUSSIAN.update({en + "a": ru + "а" for en, ru in _SURNAMES.items()})

# Names made of a name and a number: "MegaMart #3", "MegaMart online", "... register 2".
_PATTERNS = [
    (re.compile(r"^(?P<name>.+) #(?P<n>\d+)$"), "{name} №{n}"),
    (re.compile(r"^(?P<name>.+) online$"), "{name}, интернет-магазин"),
    (re.compile(r"^(?P<name>.+) app$"), "{name}, приложение"),
    (re.compile(r"^(?P<name>.+), register (?P<n>\d+)$"), "{name}, касса {n}"),
]

LANGUAGES = ("en", "ru")


@contextmanager
def speaking(language: str):
    """Name the demo's rows in ``language`` ("en" or "ru") within the block."""
    global _language
    code = language.split("-")[0]
    if code not in LANGUAGES:
        raise ValueError(f"the demo speaks {', '.join(LANGUAGES)}, not {language!r}")
    before, _language = _language, code
    try:
        yield
    finally:
        _language = before


def product_name(brand: str, name: str) -> str:
    """ "Jacobs Ground coffee 250 g" in English, "Кофе молотый 250 г Jacobs" in Russian."""
    if _language == "en":
        return f"{brand} {name}"
    return f"{say(name)} {say(brand)}"


def say(text: str) -> str:
    """``text`` (an English name of the demo) in the demo's language."""
    if _language == "en":
        return text
    if text in RUSSIAN:
        return RUSSIAN[text]
    for pattern, template in _PATTERNS:
        match = pattern.match(text)
        if match:
            return template.format(**match.groupdict())
    return text
