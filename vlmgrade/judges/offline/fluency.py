"""Fluency as well-formedness, not as likeness to any one corpus: is this text English sentences, or
degenerate text a caption could game a claim count with?

Three signs of degenerate text, each a share of the completion (0 = none):
- `broken`: of the word pairs whose first word constrains the second (an article, a colour, a number,
  "I", a preposition), that needs a subject ("see") or that is one word twice, the share no English
  sentence has: "the is", "red the", "I ball", "two black.", "on is", "today see", "right right";
  shuffled words ("ball the red on sits") break about half of them, true text in any phrasing next to none.
- `repeated`: sentences said before (in the completion or its prefix), and sentences that name the same
  thing three times over ("a red ball, a red ball and a red ball").
- `bare`: sentences that are only nouns with no determiner, number or verb ("ball cup dog tree").

A fourth, `wordless`, is the share of the visible characters in no word-like token ("........",
"tttttttt"). `fluency` = (1 - broken) x (1 - repeated) x (1 - bare) x (1 - wordless). `degenerate`
names the sign past its limit (a quarter of the word pairs broken, a third of the sentences repeated,
half of them bare, half the characters in no word), or None; the
grounded judge gives a degenerate text 0 and says why. Work is one pass over the tokens.
"""

from __future__ import annotations

import re

from vlmgrade.judges.offline.claims import COLOR_WORDS, DETERMINERS, NOUNS, SENTENCE_ENDS, SIZE_WORDS, sentences, tokens

NUMBER_WORDS = {"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}

ARTICLES = {"a", "an", "the"}
PREPOSITIONS = {"on", "in", "at", "of", "to", "by", "with", "under", "behind", "beside", "from", "into", "near",
                "below", "above", "over", "onto", "for"}
VERBS = {"is", "are", "am", "was", "were", "be", "see", "sees", "can", "sit", "sits", "stand", "stands", "rest",
         "rests", "look", "looks", "like", "likes", "have", "has", "do", "does", "play", "plays", "go", "goes",
         "find", "spot", "count", "notice", "want", "wait", "waits", "stay", "stays", "lies", "lie", "'s", "there's",
         "it's", "i'm", "we're", "they're", "here's", "there", "here", "seen", "shows", "show", "sitting",
         "standing", "resting", "waiting", "flying", "floating", "parked", "makes", "think", "love", "hold", "wave"}
PRONOUNS = {"i", "we", "you", "he", "she", "they", "it"}
# limits past which a completion is degenerate: a quarter of its word pairs broken, a third of its
# sentences (or noun phrases) repeated, half of its sentences bare nouns
LIMITS = {"broken": 0.25, "repeated": 1 / 3, "bare": 0.5, "wordless": 0.5}
_RUN = re.compile(r"(.)\1\1")  # a character three times over: "ttttt", "....", not in English words


FUNCTION_WORDS = VERBS | PREPOSITIONS | DETERMINERS | PRONOUNS | {"and", "or", "but", "so", "not", "very", "too"}
CLOSE = SENTENCE_ENDS | {",", "!", "?"}


SUBJECTS = {"i", "we", "you", "they"}
DOUBLINGS = {"very", "really", "so", "far", "ha", "that", "had", "is", "bye", "no", "yes", "more", "round", "on"}
PREDICATIVE = {"is", "are", "very", "so", "and", "looks", "look", "too", "really", "quite", "all", "both", ",", "or",
               "seems", "seem", "of", "bright", "dark", "light", "'s", "painted", "coloured", "colored", "in",
               "not", "but"}


def _broken(before: str, a: str, b: str) -> bool | None:
    """Whether the word b may follow a (before a: `before`): None when neither constrains the other (most
    pairs), else True for a pair no English sentence has. Only words that constrain their neighbours are
    asked, so shuffled text breaks about half of these pairs and true text, in any phrasing, next to none."""
    if a == b and a.isalpha():  # "right right of", "the the": a stutter, save the doublings English has
        return a not in DOUBLINGS
    if b == "see":  # "see" needs a subject or a modal before it
        return a not in SUBJECTS and a not in {"can", "could", "to", "will", "not", "also", "and", "do", "don't",
                                                "can't", "we'll", "i'll", "you'll", "must", "may", "might", "then",
                                                "still", "just", "really", "now", "should", "would", "let's"}
    if a in ARTICLES:
        return b in FUNCTION_WORDS or b in CLOSE
    if a in COLOR_WORDS or a in SIZE_WORDS:
        if b in CLOSE:  # "the ball is red." but not "two black."
            return before not in PREDICATIVE and before not in COLOR_WORDS and before not in SIZE_WORDS
        return b in ARTICLES or b in PRONOUNS or b in NUMBER_WORDS or b in {"see", "sees", "can", "i"}
    if a in NUMBER_WORDS:
        return b in VERBS or b in ARTICLES or b in PRONOUNS or b in CLOSE or b in NUMBER_WORDS
    if a in SUBJECTS:
        return b in NOUNS or b in COLOR_WORDS or b in SIZE_WORDS or b in ARTICLES or b in PREPOSITIONS \
            or b in PRONOUNS or b in CLOSE or b in NUMBER_WORDS
    if a in PREPOSITIONS and a not in ("over", "to", "by", "of"):  # "came from." is English; "on is" is not
        return b in {"is", "are", "see", "sees", "i", "we", "am"}
    return None


def measure(text: str, prefix: str = "") -> dict[str, float]:
    """The three shares for a completion; the sentence the prefix began is read whole."""
    before = tokens(prefix)
    toks = before + tokens(text)
    start = len(before)
    verdicts = [v for v in (_broken(toks[n - 2] if n > 1 else "", toks[n - 1], toks[n])
                            for n in range(max(1, start), len(toks))) if v is not None]
    broken = sum(verdicts) / len(verdicts) if verdicts else 0.0
    seen: set[tuple[str, ...]] = set()
    counted = repeated = bare = 0
    for offset, sent in sentences(toks):
        key = tuple(w for w in sent if w != ",")
        if offset + len(sent) > start:
            counted += 1
            repeated += key in seen or _echoes(sent)
            bare += _bare(sent)
        seen.add(key)
    return {"broken": broken, "repeated": repeated / counted if counted else 0.0,
            "bare": bare / counted if counted else 0.0}


def wordless(text: str) -> float:
    """Share of the text's visible characters that are not in word-like tokens: 0 for prose, 1 for
    "........", "tttttttt" or "yyyyyTheTheThe" (a word-like token has a vowel and no character thrice in a row)."""
    visible = sum(not c.isspace() for c in text)
    if not visible:
        return 0.0
    words = sum(len(w) for w in re.findall(r"[A-Za-z]+(?:'[a-z]+)?|\b\d{1,4}\b", text)
                if w.isdigit() or (len(w) <= 20 and re.search("[aeiouyAEIOUY]", w) and not _RUN.search(w.lower())))
    punctuation = sum(c in ".,!?;:'\"-()" for c in text) if words else 0  # prose has some; junk is not excused by it
    return max(0.0, 1 - (words + min(punctuation, words // 4)) / visible)


def _echoes(sent: list[str]) -> bool:
    """The same three words three times or more in one sentence ('a red ball, a red ball, a red ball')."""
    words = [w for w in sent if w != ","]
    seen: dict[tuple[str, ...], int] = {}
    for gram in zip(words, words[1:], words[2:]):
        seen[gram] = seen.get(gram, 0) + 1
        if seen[gram] >= 3 and any(w in NOUNS for w in gram):
            return True
    return False


def _bare(sent: list[str]) -> bool:
    """Nouns with nothing that makes a sentence of them: no verb, and either nothing else ("ball cup dog")
    or three noun phrases and more strung together with no 'and' or comma ("a red ball the cup my dog")."""
    nouns = sum(w in NOUNS for w in sent)
    if not nouns or any(w in VERBS or w.endswith(("ed", "ing")) for w in sent):
        return False
    if nouns >= 3 and not any(w in ("and", ",", "or", "with") for w in sent):
        return True
    return not any(w in DETERMINERS or w in PRONOUNS or w.isdigit() or w in PREPOSITIONS
                   or w in {"two", "three", "four", "five", "six", "seven", "one", "and"} for w in sent)


def fluency(text: str, prefix: str = "") -> tuple[float | None, str | None]:
    """(fluency 0-1, the reason the text is degenerate or None); fluency None for an empty completion."""
    if not text.strip():
        return None, None
    m = {**measure(text, prefix), "wordless": wordless(text)}
    score = (1 - m["broken"]) * (1 - m["repeated"]) * (1 - m["bare"]) * (1 - m["wordless"])
    over = [k for k, limit in LIMITS.items() if m[k] > limit]
    reason = None
    if over:
        what = {"broken": "word pairs no sentence has", "repeated": "sentences or names repeated",
                "bare": "sentences of bare nouns", "wordless": "of its characters in no word"}
        reason = "degenerate text: " + ", ".join(f"{m[k]:.0%} {what[k]}" for k in over)
    return score, reason
