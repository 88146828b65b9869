"""Step 1 of the pipeline: a command's text -> tokens (words, numbers, symbols) with stems.

Normalisation: Unicode NFKC, typographic quotes and dashes to ASCII, lower case, contractions
("don't" -> "not"), possessives dropped, British and American spellings and inflections merged by
``stem`` ("prioritise", "prioritizing", "prioritized" -> "prioritiz"), and number words to numbers
("five" -> 5, "twenty one" -> 21; "no one" stays words). Every token keeps its character span in
the text shown to the operator, so evidence can quote the command's own words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+(?:'[^\W\d_]+)*|\S")
_TRANSLATE = {0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x2013: "-", 0x2014: "-", 0x2212: "-", 0xD7: "x"}

CONTRACTIONS = {
    "don't": "not", "dont": "not", "doesn't": "not", "doesnt": "not", "didn't": "not", "isn't": "not",
    "isnt": "not", "aren't": "not", "arent": "not", "won't": "not", "wouldn't": "not", "shouldn't": "not",
    "mustn't": "not", "can't": "not", "cannot": "not", "cant": "not", "wasn't": "not", "weren't": "not",
    "haven't": "not", "hasn't": "not", "needn't": "not", "it's": "it", "that's": "that", "let's": "let",
    "i'm": "i", "we're": "we", "you're": "you", "they're": "they", "i'd": "i", "we'd": "we",
}  # fmt: skip
IRREGULAR = {
    "goes": "go",
    "busses": "bus",
    "buses": "bus",
    "lorries": "lorry",
    "people": "person",
    "children": "child",
    "shrunk": "shrink",
    "shrank": "shrink",
    "kept": "keep",
    "brought": "bring",
}
_OUR_ENDINGS = ("our", "ours", "oured", "ouring", "ourite", "ourites", "ouritism", "ourable")

_SMALL = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
#: "one" after these is a pronoun, not a number ("no one", "every one").
_ONE_AS_PRONOUN = {"no", "every", "each", "any", "some", "this", "that", "the", "which", "only", "someone", "anyone"}


@dataclass(frozen=True)
class Token:
    """One word, number or symbol of a command.

    ``text`` is the lower-cased surface form, ``stem`` its normalised form (what tables match),
    ``number`` its value for numbers, ``start``/``end`` its characters in the command."""

    text: str
    stem: str
    start: int
    end: int
    number: float | None = None


def stem(word: str) -> str:
    """A light stemmer: one form for plurals, -ing/-ed, -ise/-ize and -our/-or variants."""
    w = CONTRACTIONS.get(word, word)
    if w.endswith("'s"):
        w = w[:-2]
    w = IRREGULAR.get(w, w)
    if len(w) <= 3 or not w.isalpha():
        return w
    w = _american(w)
    if w.endswith(("ies", "ied")) and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if w.endswith("ing") and len(w) > 5:
        w = _undouble(w[:-3])
    elif w.endswith("ed") and len(w) > 4:
        w = _undouble(w[:-2])
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def _american(w: str) -> str:
    for british, american in (
        ("isation", "ization"),
        ("ise", "ize"),
        ("ised", "ized"),
        ("ises", "izes"),
        ("ising", "izing"),
    ):
        if w.endswith(british) and len(w) > len(british) + 2:
            return w[: -len(british)] + american
    for ending in _OUR_ENDINGS:
        if w.endswith(ending) and len(w) - len(ending) >= 3:
            return w[: -len(ending)] + "or" + ending[3:]
    return w


def _undouble(w: str) -> str:
    if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "aeioulsz":
        return w[:-1]
    return w


def shown_text(text: str) -> str:
    """The command as quoted back: NFKC, ASCII quotes and dashes, original case."""
    return unicodedata.normalize("NFKC", text).translate(_TRANSLATE)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``shown_text(text)`` (spans index that string), number words merged."""
    shown = shown_text(text)
    low = shown.lower()
    if len(low) != len(shown):  # a rare case-folding that changes length: spans follow the folded text
        shown = low
    raw = [_make(m.group(0).lower(), m.start(), m.end()) for m in _TOKEN.finditer(shown)]
    return _merge_number_words(raw)


def _make(text: str, start: int, end: int) -> Token:
    if text[0].isdigit():
        return Token(text, text, start, end, float(text))
    return Token(text, stem(text), start, end)


def _merge_number_words(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        value, j = _number_at(tokens, i)
        if value is None or (tokens[i].text == "one" and j == i + 1 and out and out[-1].text in _ONE_AS_PRONOUN):
            out.append(tokens[i])
            i += 1
            continue
        out.append(Token(str(value), str(value), tokens[i].start, tokens[j - 1].end, float(value)))
        i = j
    return out


def _number_at(tokens: list[Token], i: int) -> tuple[int | None, int]:
    """The number spelled from ``tokens[i]`` on ("two hundred and five", "forty-two") and the index
    after it; ``None`` when no number word starts there. Two numbers in a row stay two ("five twenty")."""
    total, current, last, j = 0, 0, None, i
    while j < len(tokens):
        w = tokens[j].text
        nxt = tokens[j + 1].text if j + 1 < len(tokens) else ""
        if w in _TENS and last in (None, "scale"):
            current, last = current + _TENS[w], "tens"
        elif w in _SMALL and (last in (None, "scale") or (last == "tens" and 0 < _SMALL[w] < 10)):
            current, last = current + _SMALL[w], "small"
        elif w in _SCALES and last in ("small", "tens"):
            if _SCALES[w] == 100:
                current *= 100
            else:
                total, current = total + current * _SCALES[w], 0
            last = "scale"
        elif not ((w == "-" and last == "tens" and 0 < _SMALL.get(nxt, 0) < 10)
                  or (w == "and" and last == "scale" and (nxt in _SMALL or nxt in _TENS))):  # fmt: skip
            break
        j += 1
    if last is None:
        return None, i
    return total + current, j


def words_to_digits(text: str) -> str:
    """``text`` with its number words written as digits ("vehicle seven" -> "vehicle 7")."""
    shown = shown_text(text)
    out, at = [], 0
    for token in tokenize(text):
        if token.number is not None and not shown[token.start].isdigit():
            out += [shown[at : token.start], token.text]
            at = token.end
    return "".join(out) + shown[at:]
