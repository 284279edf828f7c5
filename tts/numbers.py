"""Numbers to English words: currency, phone numbers, times, fractions, decades, ordinals, percentages,
decimals, years and ranges, each read as a person reads it aloud."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import inflect

# Digit strings longer than this are codes or IDs, not quantities: they are read digit by digit, at most 6 spoken
# characters a digit ("seven "), so a long number's spoken form grows only linearly; and Python's int() (whose
# limit is 4,300 digits) never sees more digits than this. Up to it a number is read as one, at most 12 spoken
# characters a digit ("seven hundred seventy-seven trillion ..."). README, section Limits.
MAX_NUMBER_DIGITS = 15
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents")}

_SCALES = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion", "t": "trillion",
           "thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion"}
_FRACTION_NAMES = {2: ("half", "halves"), 4: ("quarter", "quarters")}

_GROUPED = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+"  # 1,000,000 or 1000000
_CURRENCY = re.compile(r"([$£€])\s?(" + _GROUPED + r")(\.\d+)?(?:\s?(" + "|".join(_SCALES) + r")\b)?",
                       re.IGNORECASE)
_PHONE = re.compile(r"(?<![\d-])(?:(1)[-. ])?(?:\((\d{3})\)\s?|(\d{3})[-. ])?(\d{3})-(\d{4})(?![\d-])")
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?([ap])(\.m\.|\.m(?![\w.])|m(?!\w))", re.IGNORECASE)
_FRACTION = re.compile(r"(?<![\d/])(?:(\d+)\s)?(\d+)/(\d+)(?![\d/])")
_DECADE = re.compile(r"(?<![\d'])'?(\d{2}|\d{4})s\b")
_GROUPED_NUMBER = re.compile(r"\b(\d{1,3}(?:,\d{3})+)(?:\.(\d+))?(?!\d)")
_PERCENT = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)\s?%")  # from a run's first digit: linear time
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_RANGE = re.compile(r"\b(\d+)\s?[-–]\s?(\d+)\b")
_NEGATIVE = re.compile(r"(?<![\w.])-(?=\d)")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_INTEGER = re.compile(r"\d+")
_NEXT_WORD = re.compile(r"\s*(\S)?")


@lru_cache(maxsize=1)
def _engine() -> inflect.engine:
    import inflect  # imported on first use: it takes ~2 s (typeguard instruments it)

    return inflect.engine()


@lru_cache(maxsize=4096)
def cardinal(n: int) -> str:
    """`1234` → `"one thousand two hundred thirty-four"` (American: no "and"); past `MAX_NUMBER_DIGITS` digits,
    digit by digit."""
    if abs(n) >= 10**MAX_NUMBER_DIGITS:
        return digits(str(n))
    return _engine().number_to_words(n, andword="", comma="")  # no pause inside a number


def number(s: str) -> str:
    """A written digit string → words: `cardinal` up to `MAX_NUMBER_DIGITS` digits, else digit by digit (never
    through int(), so any length is read)."""
    return cardinal(int(s)) if len(s) <= MAX_NUMBER_DIGITS else digits(s)


def digits(s: str) -> str:
    """`"0507"` → `"zero five zero seven"`."""
    return " ".join(_DIGIT_WORDS[int(c)] for c in s)


def ordinal(n: int | str) -> str:
    """`22` (or `"22"`) → `"twenty-second"`; a digit string past `MAX_NUMBER_DIGITS` digits: digit by digit, the
    last one an ordinal."""
    return _engine().ordinal(number(n) if isinstance(n, str) else cardinal(n))


def year_or_cardinal(n: int) -> str:
    """Four-digit numbers from 1000 to 2099 are read as years, in pairs: 1066 → ten sixty-six,
    1984 → nineteen eighty-four, 2021 → twenty twenty-one.

    1000, 2000–2009 stay cardinal ("two thousand five"), as speakers say them; a number written with a
    thousands comma ("1,500") never reaches here.
    """
    if 1001 <= n <= 1999 or 2010 <= n <= 2099:
        high, low = divmod(n, 100)
        if low == 0:
            return f"{cardinal(high)} hundred"
        return f"{cardinal(high)} {'oh ' + cardinal(low) if low < 10 else cardinal(low)}"
    return cardinal(n)


def _plural(words: str) -> str:
    """"nineteen ninety" → "nineteen nineties", "eighteen hundred" → "eighteen hundreds"."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


def _currency(m: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[m.group(1)]
    whole, frac, scale = m.group(2).replace(",", ""), (m.group(3) or "")[1:], m.group(4)
    if scale:  # "$2.5 million": the amount is a count of millions, so there are no cents
        amount = f"{number(whole)} point {digits(frac)}" if frac else number(whole)
        return f"{amount} {_SCALES[scale.lower()]} {many}"
    units = whole.lstrip("0")
    subunits = int((frac + "00")[:2]) if frac else 0
    parts = []
    if units or not subunits:
        parts.append(f"{number(whole)} {one if units == '1' else many}")
    if subunits:
        parts.append(f"{cardinal(subunits)} {sub_one if subunits == 1 else sub_many}")
    return " and ".join(parts)


def _decimal(m: re.Match) -> str:
    return f"{number(m.group(1))} point {digits(m.group(2))}"


def _time(m: re.Match) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 24 or minute > 59:  # not a clock time (a ratio or score): read both numbers
        return f"{cardinal(hour)} {cardinal(minute)}"
    if minute == 0:
        return f"{cardinal(hour)} o'clock"
    return f"{cardinal(hour)} {'oh ' + cardinal(minute) if minute < 10 else cardinal(minute)}"


def _grouped(m: re.Match) -> str:
    """"1,500" → "one thousand five hundred": a thousands comma marks a quantity, never a year."""
    whole = number(m.group(1).replace(",", ""))
    return f"{whole} point {digits(m.group(2))}" if m.group(2) else whole


def _phone(m: re.Match) -> str:
    return ", ".join(digits(g) for g in m.groups() if g)  # a short pause between the groups


def _clock(m: re.Match) -> str:
    """"3:30pm" → "three thirty p m"; "11 a.m." → "eleven a m"."""
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if not 1 <= hour <= 12 or minute > 59:
        return m.group(0)
    said = cardinal(hour) if minute == 0 else f"{cardinal(hour)} {'oh ' if minute < 10 else ''}{cardinal(minute)}"
    end = ""
    if m.group(4) == ".m.":  # the abbreviation's full stop may also end the sentence
        after = _NEXT_WORD.match(m.string, m.end())  # always matches; no copy of the rest, so linear time
        end = "." if after is None or after.group(1) is None or after.group(1).isupper() else ""
    return f"{said} {m.group(3).lower()} m{end}"


def _fraction(m: re.Match) -> str:
    """"1/2" → "one half", "3/4" → "three quarters", "2 1/2" → "two and a half", "24/7" → "twenty-four seven"."""
    if max(len(g) for g in m.groups() if g) > MAX_NUMBER_DIGITS:  # not a fraction: read each number
        return " ".join(number(g) for g in m.groups() if g)
    whole, num, den = m.group(1), int(m.group(2)), int(m.group(3))
    if not 0 < num < den <= 10 and den not in (12, 16, 32, 64, 100) or num >= den:
        return f"{whole + ' ' if whole else ''}{cardinal(num)} {cardinal(den)}"  # not a fraction: read both
    one, many = _FRACTION_NAMES.get(den, (ordinal(den), ordinal(den) + "s"))
    if whole:
        part = f"a {one}" if num == 1 else f"{cardinal(num)} {many}"
        return f"{cardinal(int(whole))} and {part}"
    return f"{cardinal(num)} {one if num == 1 else many}"


def _decade(m: re.Match) -> str:
    """"1800s" → "eighteen hundreds", "1990s" → "nineteen nineties", "'90s" → "nineties"."""
    n = int(m.group(1))
    if n % 10 or len(m.group(1)) == 4 and not 1000 <= n <= 2090:
        return m.group(0)
    return _plural(cardinal(n) if n < 100 else year_or_cardinal(n) if n % 1000 else cardinal(n))


def expand_numbers(text: str) -> str:
    """Replace every digit sequence in `text` by words; the order of the rules matters.

    Currency and percentages come before decimals so that "$3.50" reads "three dollars and fifty
    cents", phone numbers before ranges so that "555-1234" is read digit by digit, and ranges before
    negatives so that "5-10" reads "five to ten", not "five minus ten".
    """
    text = _CURRENCY.sub(_currency, text)
    text = _PHONE.sub(_phone, text)
    text = _CLOCK.sub(_clock, text)
    text = _FRACTION.sub(_fraction, text)
    text = _DECADE.sub(_decade, text)
    text = _PERCENT.sub(lambda m: f"{m.group(1)} percent", text)
    text = _GROUPED_NUMBER.sub(_grouped, text)
    text = _ORDINAL.sub(lambda m: ordinal(m.group(1)), text)
    text = _TIME.sub(_time, text)
    text = _DIGIT_LETTER.sub(" ", text)  # "221B" → "221 B", "Q3" → "Q 3", "5pm" → "5 pm"
    text = _RANGE.sub(lambda m: f"{m.group(1)} to {m.group(2)}", text)
    text = _NEGATIVE.sub("minus ", text)
    text = _DECIMAL.sub(_decimal, text)
    return _INTEGER.sub(lambda m: year_or_cardinal(int(m.group(0))) if len(m.group(0)) == 4
                        else number(m.group(0)), text)
