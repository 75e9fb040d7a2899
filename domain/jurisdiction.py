"""Where a player is decides what they may do: products and payment methods by jurisdiction.

The rule table is data. The wallet's Lua scripts receive it encoded (``encode_blocked``) and
apply it in the same atomic step that moves money; the functions here are the same rule in
Python (the oracle a property test compares the scripts against).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

ADULT_AGE = 18


class Product(StrEnum):
    """What a stake is placed on; jurisdictions gate products."""

    SPORT_PREMATCH = "sport_prematch"
    SPORT_INPLAY = "sport_inplay"
    CASINO = "casino"


class PaymentMethod(StrEnum):
    """How a deposit is funded; credit methods are banned in some jurisdictions."""

    BANK_TRANSFER = "bank_transfer"
    DEBIT_CARD = "debit_card"
    E_WALLET = "e_wallet"
    CREDIT_CARD = "credit_card"
    CRYPTO = "crypto"


@dataclass(frozen=True)
class JurisdictionRule:
    """What one jurisdiction forbids; anything not listed is allowed."""

    blocked_products: frozenset[Product] = frozenset()
    blocked_methods: frozenset[PaymentMethod] = frozenset()


# Australia: Interactive Gambling Act (no online in-play sport, no online casino) and the
# National Consumer Protection Framework (no credit betting: no credit cards, no crypto).
JURISDICTION_RULES: Mapping[str, JurisdictionRule] = {
    "AU": JurisdictionRule(
        blocked_products=frozenset({Product.SPORT_INPLAY, Product.CASINO}),
        blocked_methods=frozenset({PaymentMethod.CREDIT_CARD, PaymentMethod.CRYPTO}),
    ),
}


def product_allowed(jurisdiction: str, product: Product,
                    rules: Mapping[str, JurisdictionRule] = JURISDICTION_RULES) -> bool:
    """True when ``jurisdiction`` allows ``product``."""
    rule = rules.get(jurisdiction.upper())
    return rule is None or product not in rule.blocked_products


def method_allowed(jurisdiction: str, method: PaymentMethod,
                   rules: Mapping[str, JurisdictionRule] = JURISDICTION_RULES) -> bool:
    """True when ``jurisdiction`` allows deposits by ``method``."""
    rule = rules.get(jurisdiction.upper())
    return rule is None or method not in rule.blocked_methods


def encode_blocked(rules: Mapping[str, JurisdictionRule],
                   what: Literal["products", "methods"]) -> str:
    """The rule table as ``|AU:casino|AU:sport_inplay|``: a plain substring test in Lua."""
    pairs = sorted(
        f"{code}:{item}"
        for code, rule in rules.items()
        for item in (rule.blocked_products if what == "products" else rule.blocked_methods)
    )
    return "|" + "|".join(pairs) + "|" if pairs else "|"


# ISO 3166-1 alpha-2, officially assigned codes.
ISO_3166_ALPHA2 = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM
    KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG
    VI VN VU WF WS YE YT ZA ZM ZW""".split()
)


def is_iso_country(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code (upper case)."""
    return code in ISO_3166_ALPHA2


def age_on(date_of_birth: date, today: date) -> int:
    """Completed years of age on ``today``."""
    before_birthday = (today.month, today.day) < (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - int(before_birthday)
