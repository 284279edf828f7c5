"""Numbers to English words: currency, percentages, ordinals, decimals, years, times and ranges."""
from __future__ import annotations

import re
from functools import lru_cache

# Digit strings longer than this are codes or IDs, not quantities: they are read digit by digit.
_MAX_CARDINAL_DIGITS = 15
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents")}

_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CURRENCY = re.compile(r"([$£€])\s?(\d+(?:\.\d+)?)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_RANGE = re.compile(r"\b(\d+)\s?[-–]\s?(\d+)\b")
_NEGATIVE = re.compile(r"(?<![\w.])-(?=\d)")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_INTEGER = re.compile(r"\d+")


@lru_cache(maxsize=1)
def _engine() -> "inflect.engine":  # noqa: F821
    import inflect  # imported on first use: it takes ~2 s (typeguard instruments it)

    return inflect.engine()


def cardinal(n: int) -> str:
    """`1234` → `"one thousand two hundred thirty-four"` (American: no "and")."""
    if len(str(n)) > _MAX_CARDINAL_DIGITS:
        return digits(str(n))
    return _engine().number_to_words(n, andword="")


def digits(s: str) -> str:
    """`"0507"` → `"zero five zero seven"`."""
    return " ".join(_DIGIT_WORDS[int(c)] for c in s)


def ordinal(n: int) -> str:
    """`22` → `"twenty-second"`."""
    return _engine().ordinal(cardinal(n))


def year_or_cardinal(n: int) -> str:
    """Four-digit numbers that look like years are read in pairs: 1984 → nineteen eighty-four.

    2000–2009 stay cardinal ("two thousand five"), as speakers say them.
    """
    if 1100 <= n <= 1999 or 2010 <= n <= 2099:
        high, low = divmod(n, 100)
        if low == 0:
            return f"{cardinal(high)} hundred"
        return f"{cardinal(high)} {'oh ' + cardinal(low) if low < 10 else cardinal(low)}"
    return cardinal(n)


def _currency(m: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[m.group(1)]
    whole, _, frac = m.group(2).partition(".")
    units = int(whole)
    subunits = int((frac + "00")[:2]) if frac else 0
    parts = []
    if units or not subunits:
        parts.append(f"{cardinal(units)} {one if units == 1 else many}")
    if subunits:
        parts.append(f"{cardinal(subunits)} {sub_one if subunits == 1 else sub_many}")
    return " and ".join(parts)


def _decimal(m: re.Match) -> str:
    return f"{cardinal(int(m.group(1)))} point {digits(m.group(2))}"


def _time(m: re.Match) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 24 or minute > 59:  # not a clock time (a ratio or score): read both numbers
        return f"{cardinal(hour)} {cardinal(minute)}"
    if minute == 0:
        return f"{cardinal(hour)} o'clock"
    return f"{cardinal(hour)} {'oh ' + cardinal(minute) if minute < 10 else cardinal(minute)}"


def expand_numbers(text: str) -> str:
    """Replace every digit sequence in `text` by words; the order of the rules matters.

    Currency and percentages come before decimals so that "$3.50" reads "three dollars and fifty
    cents", and ranges before negatives so that "5-10" reads "five to ten", not "five minus ten".
    """
    text = _THOUSANDS_COMMA.sub("", text)
    text = _CURRENCY.sub(_currency, text)
    text = _PERCENT.sub(lambda m: f"{m.group(1)} percent", text)
    text = _ORDINAL.sub(lambda m: ordinal(int(m.group(1))), text)
    text = _TIME.sub(_time, text)
    text = _DIGIT_LETTER.sub(" ", text)  # "221B" → "221 B", "Q3" → "Q 3", "5pm" → "5 pm"
    text = _RANGE.sub(lambda m: f"{m.group(1)} to {m.group(2)}", text)
    text = _NEGATIVE.sub("minus ", text)
    text = _DECIMAL.sub(_decimal, text)
    return _INTEGER.sub(lambda m: year_or_cardinal(int(m.group(0))) if len(m.group(0)) == 4
                        else cardinal(int(m.group(0))), text)
