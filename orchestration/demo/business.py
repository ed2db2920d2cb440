"""The simulated business: how much of everything there is and what it looks like.

Volumes at scale 1, and the regions, currencies, channels, segments, lead sources,
ticket priorities, names, departments, product catalog, carriers, plants and services the
entities are drawn from, with the shares, growth rates and medians that shape them.
"""

from __future__ import annotations

import numpy as np

# Volumes at scale 1; transactional entities grow linearly with the scale. The minimum
# keeps every entity populated even at tiny test scales.
_VOLUME = {
    "accounts": (3_000, 24),
    "leads": (30_000, 60),
    "opportunities": (6_000, 40),
    "tickets": (20_000, 60),
    "orders": (50_000, 80),
    "employees": (300, 16),
}

REGIONS = ("north_america", "emea", "apac", "latam")
_REGION_SHARE = np.array([0.42, 0.30, 0.17, 0.11])
_REGION_GROWTH = np.array([0.14, 0.20, 0.36, 0.28])  # continuous growth per year
_REGION_TZ = np.array([-6, 1, 8, -4])  # hours from UTC of the region's business day
_REGION_PRICE_INDEX = np.array([1.00, 1.06, 1.03, 0.94])

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "BRL")
# US dollars per unit at the start of the history, drift per year, daily volatility.
_FX_START = np.array([1.0, 1.09, 1.27, 0.0068, 0.66, 0.19])
_FX_DRIFT = np.array([0.0, 0.02, 0.01, -0.04, 0.0, -0.06])
_FX_VOL = np.array([0.0, 0.0045, 0.005, 0.006, 0.006, 0.008])
# Currencies that trade in whole units: prices and amounts carry no cents.
_WHOLE_UNIT_CURRENCIES = np.array([c == "JPY" for c in CURRENCIES])
# Order currency mix per region (rows: regions, columns: CURRENCIES).
_REGION_CURRENCY_MIX = np.array(
    [
        [1.00, 0.00, 0.00, 0.00, 0.00, 0.00],
        [0.10, 0.60, 0.30, 0.00, 0.00, 0.00],
        [0.20, 0.00, 0.00, 0.45, 0.35, 0.00],
        [0.40, 0.00, 0.00, 0.00, 0.00, 0.60],
    ]
)
# The currency a region's CRM and marketing budgets are kept in.
_REGION_BOOK_CURRENCY = np.array([0, 1, 3, 5])

# Calendar months, January first: a summer lull and a strong fourth quarter.
_MONTH_SEASON = np.array([0.86, 0.90, 1.02, 0.98, 1.00, 0.97, 0.90, 0.86, 1.02, 1.06, 1.14, 1.24])

ORDER_CHANNEL_SHARE = np.array(
    [[0.50, 0.32, 0.18], [0.36, 0.44, 0.20], [0.30, 0.25, 0.45], [0.56, 0.20, 0.24]]
)
_ORDER_CHANNEL_GROWTH = np.array([0.08, -0.02, 0.0])
# Monday first. Online shops sell at weekends too; account managers and partners don't.
_ORDER_CHANNEL_WEEK = np.array(
    [
        [1.00, 1.00, 1.00, 1.00, 1.05, 0.85, 0.80],
        [1.15, 1.20, 1.20, 1.15, 1.00, 0.15, 0.10],
        [1.10, 1.15, 1.15, 1.10, 1.00, 0.20, 0.15],
    ]
)

_SEGMENT_SHARE = np.array([0.62, 0.28, 0.10])
_SEGMENT_CHURN_PER_YEAR = np.array([0.16, 0.09, 0.05])
_SEGMENT_QUANTITY = np.array([1.0, 2.2, 4.5])

_LEAD_SOURCE_SHARE = np.array([0.34, 0.12, 0.10, 0.26, 0.18])  # contract order
_LEAD_SOURCE_WEEK = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 0.95, 0.75, 0.70],
        [1.0, 1.0, 1.0, 1.0, 1.00, 0.40, 0.30],
        [1.0, 1.0, 1.0, 1.0, 1.00, 0.30, 0.20],
        [1.0, 1.0, 1.0, 1.0, 0.95, 0.80, 0.75],
        [1.2, 1.2, 1.2, 1.1, 0.90, 0.05, 0.02],
    ]
)
_LEAD_CONVERSION = np.array([0.08, 0.24, 0.12, 0.06, 0.05])
_COST_PER_LEAD_USD = np.array([38.0, 14.0, 260.0, 115.0, 85.0])

_PRIORITY_SHARE = np.array([0.30, 0.45, 0.18, 0.07])
_FIRST_RESPONSE_MEDIAN_H = np.array([7.0, 3.5, 1.2, 0.4])
_RESOLUTION_MEDIAN_H = np.array([60.0, 26.0, 9.0, 3.0])
_SLA_FIRST_RESPONSE_H = np.array([24.0, 8.0, 4.0, 1.0])
_SLA_RESOLUTION_H = np.array([168.0, 72.0, 24.0, 8.0])
_TICKET_CHANNEL_SHARE = np.array([0.40, 0.20, 0.25, 0.15])
_TICKET_CHANNEL_RESPONSE = np.array([1.0, 0.25, 0.35, 1.3])

_ACCOUNT_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne",
    "Soylent", "Hooli", "Vandelay", "Nordwind", "Aurora", "Helios", "Kestrel", "Meridian",
    "Pinnacle", "Quantum", "Redwood", "Sapphire", "Summit", "Tandem", "Vertex", "Zephyr",
    "Bluebird", "Cobalt", "Evergreen", "Falcon", "Granite", "Harbor", "Ironbridge", "Juniper",
    "Lumière", "Mistral", "Nova", "Orion", "Polaris", "Sierra", "Tundra", "Yukon",
)  # fmt: skip
_ACCOUNT_SUFFIXES = (
    "Inc.", "GmbH", "Ltd", "S.A.", "AG", "Corp.", "LLC", "K.K.", "Pty Ltd", "Ltda.",
    "& Co.", "Holdings", "Group", "SARL",
)  # fmt: skip
# Names that exercise quoting and escaping in every consumer of the data.
_AWKWARD_ACCOUNT_NAMES = (
    "<b>Acme & Sons</b>",
    "Müller, Schmidt & Partner GmbH",
    '"Quoted" Holdings, Inc.',
    "Zürich Versicherungs-Gesellschaft AG",
    "Société Générale d'Équipement",
    "東京テクノ株式会社",
)
_INDUSTRIES = (
    "Manufacturing", "Retail", "Healthcare", "Financial Services", "Software",
    "Logistics", "Education", "Public Sector", "Energy", "Media, Entertainment & Sports",
)  # fmt: skip

_FIRST_NAMES = (
    "Anna", "Ben", "Chloé", "David", "Elif", "Fatima", "Georg", "Hannah", "Ivan", "Jana",
    "Kenji", "Lucía", "Mohammed", "Nora", "Olivia", "Pedro", "Qing", "Rafael", "Sofia",
    "Tomás", "Uma", "Valentina", "Wei", "Xavier", "Yuki", "Zoë", "Björn", "Anne-Marie",
    "José", "Łukasz", "Priya", "Siobhán",
)  # fmt: skip
_LAST_NAMES = (
    "Müller", "Smith", "García", "Nguyen", "O'Brien", "Schmidt", "Rossi", "Tanaka",
    "Kowalski", "Dubois", "Silva", "Andersson", "Raman", "Zhang", "Álvarez", "Okafor",
    "Jensen", "Novák", "Fernández", "Hoffmann", "Suzuki", "Kim", "Lefèvre", "Costa",
)  # fmt: skip
_AWKWARD_PERSON_NAMES = ("Smith, Jr., Robert", 'Alexandra "Sasha" Petrova', "李 伟")

_DEPARTMENTS = (
    ("Sales", 0.22, ("Field Sales", "Inside Sales", "Partner Sales")),
    ("Support", 0.20, ("Tier 1", "Tier 2", "Customer Success")),
    ("Operations", 0.25, ("Assembly", "Logistics", "Quality")),
    ("Engineering", 0.14, ("Platform", "Apps", "SRE")),
    ("Marketing", 0.07, ("Growth", "Brand & Events")),
    ("Finance", 0.07, ("Accounting", "FP&A")),
    ("People", 0.05, ("Recruiting", "HR Operations")),
)

_CATEGORIES = (
    # name, product count, unit cost range (USD), cost / list price, order quantity mean
    ("Hardware", 16, (180.0, 2400.0), 0.64, 0.6),
    ("Software", 12, (40.0, 900.0), 0.22, 1.5),
    ("Services", 8, (300.0, 4000.0), 0.55, 0.3),
    ("Accessories", 14, (4.0, 90.0), 0.48, 2.5),
    ("Consumables", 10, (1.5, 30.0), 0.42, 9.0),
)
_PRODUCT_NOUNS = {
    "Hardware": ("Router", "Switch", "Edge Server", "Sensor Hub", "Gateway", "Controller"),
    "Software": ("Analytics Suite", "Fleet Manager", "Security Suite", "Backup", "Monitor"),
    "Services": ("Installation", "Onboarding", "Training Day", "Health Check"),
    "Accessories": ('Rack Kit 19"', "Cable 3m, braided", "Power Supply", "Mount", "Antenna"),
    "Consumables": ("Filter Pack", "Label Roll", "Cleaning Kit", "Thermal Paste"),
}
_PRODUCT_EDITIONS = ("Lite", "Pro", "Max", "Zürich Edition", "XL", "Mini", "2", "Plus")

_CARRIERS = ("UPS", "FedEx", "DHL Express", "DPD", "Royal Mail", "Yamato", "Correios", "Estafeta")
# Carrier mix per region, median transit as a share of the promised window, and whether
# the carrier runs into trouble in the last months of the story.
_REGION_CARRIER_MIX = np.array(
    [
        [0.45, 0.35, 0.20, 0.00, 0.00, 0.00, 0.00, 0.00],
        [0.00, 0.00, 0.45, 0.35, 0.20, 0.00, 0.00, 0.00],
        [0.00, 0.10, 0.45, 0.00, 0.00, 0.45, 0.00, 0.00],
        [0.00, 0.00, 0.35, 0.00, 0.00, 0.00, 0.35, 0.30],
    ]
)
_CARRIER_TRANSIT = np.array([0.50, 0.52, 0.55, 0.56, 0.60, 0.48, 0.62, 0.58])
_CARRIER_TROUBLE = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
_REGION_PROMISE_DAYS = np.array([3, 2, 3, 5])

_PLANTS = ("Monterrey", "Zürich", "Shenzhen")
_PLANT_TZ = np.array([-6, 1, 8])
_PLANT_RUNS_PER_DAY = np.array([4.0, 2.5, 3.5])
_PLANT_WEEK = np.array(
    [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 0]], dtype=float
)
_PLANT_DEFECT_RATE = np.array([0.013, 0.006, 0.015])
_PLANT_DEFECT_TROUBLE = np.array([2.6, 0.0, 0.3])  # extra defect rate at full trouble

_SERVICES = (
    # service_id, name, tier, availability target, outages per month, median outage min
    ("SVC-WEB", "Web Shop", "tier_1", 0.999, 0.8, 18.0),
    ("SVC-CHECKOUT", "Checkout & Payments", "tier_1", 0.999, 0.7, 15.0),
    ("SVC-API", "Partner API", "tier_1", 0.999, 0.9, 20.0),
    ("SVC-PORTAL", "Customer Portal", "tier_2", 0.995, 1.1, 50.0),
    ("SVC-CRM", "CRM (Salesforce-Sync)", "tier_2", 0.995, 1.0, 60.0),
    ("SVC-WMS", "Warehouse Management – Zürich", "tier_2", 0.995, 1.2, 45.0),
    ("SVC-BI", 'Reporting, "BI" & Exports', "tier_3", 0.99, 1.5, 140.0),
    ("SVC-MAIL", "E-Mail Gateway", "tier_3", 0.99, 1.3, 120.0),
)
# A service that was retired from the catalog but still has incidents: orphans.
_RETIRED_SERVICE = "SVC-LEGACY-FTP"


def _volume(name: str, scale: float) -> int:
    base, minimum = _VOLUME[name]
    return max(minimum, round(base * scale))
