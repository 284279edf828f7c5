"""English text normalisation: ordinary written text → the words a person would say, lower case.

Normalised text holds only letters, apostrophes inside words, spaces and the pause marks `, . ? !`;
a `.` survives only where a sentence ends, so the sentence splitter never cuts inside "U.S." or
"Dr.". The same function prepares training transcripts, so it is deterministic (regular expressions
and fixed tables, no model) and fast. Numbers are read by `tts.numbers`.
"""
from __future__ import annotations

import logging
import re
import unicodedata

from .numbers import expand_numbers, ordinal

logger = logging.getLogger(__name__)

# Abbreviations that always precede a name ("Dr. Smith"): their full stop never ends a sentence.
_TITLES = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor", "capt": "captain",
    "lt": "lieutenant", "sgt": "sergeant", "gen": "general", "col": "colonel", "maj": "major", "rev": "reverend",
    "gov": "governor", "sen": "senator", "rep": "representative", "pres": "president", "hon": "honorable",
}
# Before a name they are titles ("St. Louis", "Ft. Worth"); elsewhere another word ("Main St.", "6 ft.").
_BEFORE_NAMES = {"st": ("saint", "street"), "mt": ("mount", "mount"), "ft": ("fort", None)}
# Abbreviations that may end a sentence ("Smith Jr. Then …"): the full stop stays before a capital.
_OTHERS = {
    "jr": "junior", "sr": "senior", "co": "company", "corp": "corporation", "ltd": "limited", "inc": "incorporated",
    "vs": "versus", "etc": "et cetera", "approx": "approximately", "dept": "department", "est": "established",
    "ave": "avenue", "blvd": "boulevard", "rd": "road", "fig": "figure", "vol": "volume",
}
_MONTHS = {
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june", "jul": "july",
    "aug": "august", "sep": "september", "sept": "september", "oct": "october", "nov": "november",
    "dec": "december",
}
_MONTH_NAMES = sorted(set(_MONTHS.values()) | {"may"})
_LATIN = {"e.g.": "for example", "i.e.": "that is", "a.k.a.": "also known as", "cf.": "compare", "ph.d.": "p h d"}

_UNITS = {  # symbol → (singular, plural); case matters: "m" is metres, "M" is not a unit here
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "°C": ("degree celsius", "degrees celsius"), "°F": ("degree fahrenheit", "degrees fahrenheit"),
    "°": ("degree", "degrees"), "ms": ("millisecond", "milliseconds"), "sec": ("second", "seconds"),
    "min": ("minute", "minutes"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "kB": ("kilobyte", "kilobytes"), "KB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "V": ("volt", "volts"),
}
_SPELLED_TLDS = {"io", "ai", "uk", "us", "tv", "fm", "de", "fr", "eu", "ca", "au"}  # said letter by letter
_TLDS = r"com|org|net|edu|gov|io|ai|co|uk|us|tv|fm|de|fr|eu|ca|au|info|biz|dev|app"

# Patterns that scan a run of characters start only where the run starts (a lookbehind): tried from every
# position inside a long run, they would take time quadratic in its length (5,000 digits: seconds).
_EMAIL = re.compile(r"(?<![\w.+-])\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL = re.compile(r"(?<![\w.-])\b(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)*\.(?:" + _TLDS + r")\b(?:/[\w./-]*[\w/])?",
                  re.IGNORECASE)
_TITLE_RE = re.compile(r"\b(" + "|".join(_TITLES) + r")\.", re.IGNORECASE)
_BEFORE_NAME_RE = re.compile(r"\b(" + "|".join(_BEFORE_NAMES) + r")\.", re.IGNORECASE)
_NAME_INITIAL = re.compile(r"\b([A-Z])\.(?=\s+[A-Z])")  # "J. K. Rowling", "George W. Bush"
_OTHER_RE = re.compile(r"\b(" + "|".join(_OTHERS) + r")\.|\b(no)\.(?=\s*\d)", re.IGNORECASE)
_MONTH_RE = re.compile(r"\b(" + "|".join(_MONTHS) + r")(?:\.|(?=\s+\d))", re.IGNORECASE)
_DATE = re.compile(r"\b(" + "|".join(_MONTH_NAMES) + r")\s+(\d{1,2})(?:st|nd|rd|th)?\b(?![:\d])", re.IGNORECASE)
_UNIT_RE = re.compile(r"(?<![\d,])(\d(?:[\d,]*\d)?(?:\.\d+)?)\s?(" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len,
                                                                                                 reverse=True))
                      + r")(?![\w°/])(?:\.(?=\s+[a-z]))?")  # "6 ft. tall": that full stop ends nothing
_INITIALISM = re.compile(r"(?<![A-Za-z]\.)\b(?:[A-Za-z]\.){2,}")
_SYMBOLS = {"&": " and ", "%": " percent ", "@": " at ", "+": " plus ", "=": " equals ", "#": " number "}
_CHAR_MAP = str.maketrans({"‘": "'", "’": "'", "`": "'", "“": '"', "”": '"', "…": "...",
                           "—": " - ", "–": " - ", ";": ",", ":": ",", "(": ",", ")": ",",
                           "[": ",", "]": ",", "{": ",", "}": ",", "\n": " ", "\t": " ", "/": " "})


# Terminal escape sequences: CSI (colours, "\x1b[31m"), OSC (titles, links) and the two-character ones.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Markup tags (HTML, SSML: "<speak>", "<break time='1s'/>", "</b>", "<!-- -->"): a "<" then a letter, "/", "!" or
# "?" up to the next ">". "3 < 4" is no tag.
_NEXT_CHAR = re.compile(r"[ \"'”’)]*(.)?", re.DOTALL)  # the first character after quotes and spaces
_BEFORE_CAPITAL = re.compile(r"\s+[A-Z]")
_AT_END = re.compile(r"\s*\Z")
_TAG = re.compile(r"<(?:!--[^<>]*--|[!?/]?[A-Za-z][^<>]*)>")


def clean_text(text: str) -> tuple[str, list[str]]:
    """Remove what is in a text but not meant to be heard → `(text, what was removed, described)`.

    Invisible characters (Unicode format characters: soft hyphen, zero-width space, joiner and non-joiner, word
    joiner, byte-order mark, direction marks) are removed where they stand, so a word they sit in stays one word;
    terminal escape sequences, control characters other than white space, and markup tags are removed too.
    Every tokenizer's text goes through it (`normalize_text`; F5-TTS's raw text in `tts.text`)."""
    removed = []
    escapes = _ANSI.findall(text)
    if escapes:
        text = _ANSI.sub("", text)
        removed.append(f"{len(escapes)} terminal escape sequence{'s' * (len(escapes) > 1)}")
    tags = _TAG.findall(text)
    if tags:
        text = _TAG.sub(" ", text)
        shown = sorted({t.split()[0].rstrip(">/") + ">" for t in tags})
        removed.append(f"{len(tags)} markup tag{'s' * (len(tags) > 1)} ({', '.join(shown[:5])})")
    hidden = [c for c in text if unicodedata.category(c) in ("Cf", "Cc") and not c.isspace()]
    if hidden:
        kinds = set(hidden)
        text = "".join(c for c in text if c not in kinds)
        names = sorted({unicodedata.name(c, f"U+{ord(c):04X}").lower() for c in kinds})
        removed.append(f"{len(hidden)} invisible or control character{'s' * (len(hidden) > 1)} "
                       f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
    return text, removed


def warn_removed(removed: list[str]) -> None:
    """The one warning per text that names what was removed from it (`clean_text`'s list, and more)."""
    if removed:
        logger.warning("removed from the text, not spoken: %s", "; ".join(removed))


def _sentence_end(m: re.Match) -> str:
    """"." when the abbreviation matched by `m` also ends its sentence: at the end of the text or
    before a capitalised word (a heuristic: "the U.S. Army" loses a pause it never had)."""
    after = _NEXT_CHAR.match(m.string, m.end())  # always matches; no copy of the rest, so linear time
    return "." if after is None or after.group(1) is None or after.group(1).isupper() else ""


def _spell(word: str) -> str:
    return " ".join(word.lower())


def _email(m: re.Match) -> str:
    user, _, domain = m.group(0).partition("@")
    return f" {_dotted(user)} at {_dotted(domain)} "


def _url(m: re.Match) -> str:
    text = re.sub(r"^https?://", "", m.group(0), flags=re.IGNORECASE)
    host, _, path = text.partition("/")
    spoken = _dotted(host)
    if path:
        spoken += " slash " + " slash ".join(_dotted(p) for p in path.strip("/").split("/") if p)
    return f" {spoken} "


def _dotted(name: str) -> str:
    """"www.example.co.uk" → "w w w dot example dot co dot u k"; "-" and "_" are said too."""
    words = []
    for part in re.split(r"(\.|-|_)", name.lower()):
        if part in (".", "-", "_"):
            words.append({".": "dot", "-": "dash", "_": "underscore"}[part])
        elif part == "www" or part in _SPELLED_TLDS and words:
            words.append(_spell(part))
        elif part:
            words.append(part)
    return " ".join(words)


def _unit(m: re.Match) -> str:
    one, many = _UNITS[m.group(2)]
    return f"{m.group(1)} {one if m.group(1) == '1' else many}"


def _before_name(m: re.Match) -> str:
    title, other = _BEFORE_NAMES[m.group(1).lower()]
    # "on Main St.": the 100 characters before are enough to tell, and keep the time linear
    after_a_name = re.search(r"[a-z0-9,]\s+[A-Z][\w']*\s+$", m.string[max(0, m.start() - 100):m.start()])
    if other is None or not after_a_name and _BEFORE_CAPITAL.match(m.string, m.end()):
        return title
    return other + _sentence_end(m)


def _date(m: re.Match) -> str:
    day = int(m.group(2))
    return f"{m.group(1)} {ordinal(day)}" if 1 <= day <= 31 else m.group(0)


def normalize_text(text: str) -> str:
    """Raw English → normalised text (see the module docstring); idempotent.

    E-mail addresses and URLs are spoken ("at", "dot", "slash"); titles, months and common
    abbreviations become words; dotted initialisms are spelled ("U.S." → "u s"); dates, times, phone
    numbers, fractions, decades, years, currency, percentages and units are read as words;
    `; :`, brackets and dashes become commas; ellipses become full stops; quotes are removed; invisible
    characters, control characters, terminal escapes and markup tags are removed (`clean_text`); other
    characters that cannot be spoken are dropped. One warning per text names what was removed or dropped.
    Time and output are linear in the text's length (numbers past 15 digits are read digit by digit).
    """
    text, removed = clean_text(unicodedata.normalize("NFKC", text))
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = _EMAIL.sub(_email, text)
    text = _URL.sub(_url, text)
    for abbreviation, words in _LATIN.items():
        text = re.sub(r"(?<!\w)" + re.escape(abbreviation), words, text, flags=re.IGNORECASE)
    text = _UNIT_RE.sub(_unit, text)  # before the abbreviations: "6 ft." is feet, not Fort
    text = _TITLE_RE.sub(lambda m: _TITLES[m.group(1).lower()], text)
    text = _BEFORE_NAME_RE.sub(_before_name, text)
    text = _OTHER_RE.sub(lambda m: _OTHERS.get((m.group(1) or "").lower(), "number") + _sentence_end(m), text)
    text = _MONTH_RE.sub(lambda m: _MONTHS[m.group(1).lower()] + (_sentence_end(m) if m.group(0)[-1] == "."
                                                                    else ""), text)
    text = _DATE.sub(_date, text)
    text = expand_numbers(text)  # before the character map: "3:30" and "5–10" need : and –
    # An initialism's full stop ends a sentence only at the end of the text: "the U.S. Army" stays whole.
    text = _INITIALISM.sub(lambda m: _spell(m.group(0).replace(".", "")) + ("." if _AT_END.match(m.string, m.end())
                                                                            else ""), text)
    text = _NAME_INITIAL.sub(r"\1", text)
    text = text.translate(_CHAR_MAP)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = text.lower()
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # well-known → well known
    text = re.sub(r"(?<!\s)\s+-+\s+|^-+\s*|(?<![\s-])\s*-+$", ", ", text)  # a dash between words is a pause
    text = re.sub(r"\.{2,}", ".", text)
    text = text.replace('"', " ")
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # quotes, not apostrophes inside words
    dropped = sorted(set(re.sub(r"[a-z' ,.?!]", "", text)))
    if dropped:
        removed.append(f"characters that cannot be spoken ({' '.join(dropped)})")
        text = re.sub(r"[^a-z' ,.?!]", " ", text)
    warn_removed(removed)
    text = re.sub(r"(?<!\s)\s+([,.?!])", r"\1", text)  # marks attach to the word before them
    text = re.sub(r"([,.?!])[,.?!]*(?=[,.?!])", "", text)  # "?!" , ",." → the last mark
    text = re.sub(r"^[\s,.?!]+", "", text)
    text = re.sub(r"([,.?!])(?=[a-z])", r"\1 ", text)
    return re.sub(r"\s+", " ", text).strip()

