"""The language of a headline, detected from its text (py3langid), never
guessed from the feed: outlets mix languages, and a feed's declared
language is often wrong or missing."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

# Below these, a guess is noise: a name ("Storm Corps") says nothing.
MIN_LETTERS = 12
MIN_CONFIDENCE = 0.5

NAMES = {
    "ru": "Russian", "uk": "Ukrainian", "ko": "Korean", "pl": "Polish", "sv": "Swedish",
    "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "ja": "Japanese",
    "zh": "Chinese", "be": "Belarusian", "lt": "Lithuanian", "lv": "Latvian",
    "et": "Estonian", "fi": "Finnish", "cs": "Czech", "ro": "Romanian", "tr": "Turkish",
    "ar": "Arabic", "pt": "Portuguese", "nl": "Dutch", "da": "Danish", "no": "Norwegian",
}  # fmt: skip


@functools.cache
def _identifier() -> LanguageIdentifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    # The languages news is written in; among all 97, a short English
    # headline is too often taken for Bikol or Tagalog.
    identifier.set_languages(["en", *NAMES])
    return identifier


def language_of(text: str) -> str:
    """The ISO 639-1 code of ``text``'s language, or "" when the text is too
    short or the guess too unsure to show."""
    if sum(c.isalpha() for c in text) < MIN_LETTERS:
        return ""
    code, confidence = _identifier().classify(text)
    return str(code) if confidence >= MIN_CONFIDENCE else ""


def language_name(code: str) -> str:
    return NAMES.get(code, code.upper())
