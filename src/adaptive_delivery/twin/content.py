"""Campaign content: subject, preheader and body written from a hidden spamminess and quality.

The hidden numbers drive placement and engagement in the world; the text is what a model sees,
so the observable signals (trigger words, capitals, exclamation marks, links, images,
personalisation) are generated from them and carry the signal honestly but noisily.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

SPAM_PHRASES = (
    "FREE", "Act now", "Limited time", "100% guaranteed", "Winner", "Click here", "Cash bonus",
    "No obligation", "Risk-free", "Urgent", "Buy now", "Lowest price", "$$$", "Exclusive deal",
    "Earn money", "Double your", "Once in a lifetime", "Congratulations",
)
TOPICS = (
    "spring collection", "weekly digest", "product update", "new arrivals", "your account summary",
    "member offers", "event invitation", "travel ideas", "recipe of the week", "community news",
    "feature release", "order reminder", "seasonal picks", "webinar recording", "tips for getting started",
)
OPENERS = ("Discover our", "Your", "Inside: the", "Don't miss the", "Here is your", "Introducing the")
BODY_GOOD = (
    "We picked a few things we think you will like this week.",
    "Here is a short summary of what changed since your last visit.",
    "Read the full story on our blog, with pictures from the team.",
    "Thank you for being part of the community; reply to this email with feedback.",
    "You can change how often we write to you in your preferences.",
    "Our support team is happy to help with any question.",
)
BODY_SPAM = (
    "Click here now to claim your reward before it expires!!!",
    "This offer is 100% guaranteed risk-free, act now!",
    "You have been selected as a WINNER of our cash bonus!",
    "Lowest price ever, buy now and double your savings!!",
    "Urgent: your exclusive deal ends tonight, no obligation!",
)


@dataclass(frozen=True)
class Content:
    content_id: str
    subject: str
    preheader: str
    body_text: str
    link_count: int
    image_count: int
    has_unsubscribe_link: bool
    has_list_unsubscribe_header: bool
    personalization_level: str
    spamminess: float  # hidden
    quality: float  # hidden
    spam_risk: float | None = None  # what the sender's content check scored it as sent (None: unchecked)


def _beta_around(rng: np.random.Generator, mean: float, concentration: float = 12.0) -> float:
    mean = float(np.clip(mean, 0.02, 0.98))
    return float(rng.beta(mean * concentration, (1 - mean) * concentration))


def make_content(
    rng: np.random.Generator, content_id: str, spamminess_mean: float, quality_mean: float, one_click: bool
) -> Content:
    """Write one campaign's content from hidden spamminess/quality drawn around a sender's habits."""
    spam = _beta_around(rng, spamminess_mean)
    quality = _beta_around(rng, quality_mean)
    topic = TOPICS[rng.integers(len(TOPICS))]
    subject = f"{OPENERS[rng.integers(len(OPENERS))]} {topic}"
    n_triggers = rng.binomial(3, spam * 0.8)
    triggers = [SPAM_PHRASES[i] for i in rng.choice(len(SPAM_PHRASES), size=n_triggers, replace=False)]
    if triggers:
        subject = f"{' '.join(triggers)}: {subject}"
    if rng.random() < spam * 0.7:
        subject = subject.upper()
    subject += "!" * int(rng.binomial(4, spam * 0.6))
    personalization = ("none", "basic", "advanced")[int(rng.choice(3, p=_personalization_p(quality)))]
    if personalization != "none":
        subject = f"{{first_name}}, {subject[0].lower()}{subject[1:]}"
    n_good = max(1, int(rng.binomial(6, quality)))
    n_spam = int(rng.binomial(4, spam))
    sentences = [BODY_GOOD[i] for i in rng.choice(len(BODY_GOOD), size=n_good, replace=False)]
    sentences += [BODY_SPAM[i] for i in rng.choice(len(BODY_SPAM), size=min(n_spam, len(BODY_SPAM)), replace=False)]
    rng.shuffle(sentences)
    has_unsub = bool(rng.random() < 0.99 - 0.3 * spam)
    body = " ".join(sentences) + (" Unsubscribe: https://example.invalid/u" if has_unsub else "")
    return Content(
        content_id=content_id,
        subject=subject,
        preheader=BODY_GOOD[rng.integers(len(BODY_GOOD))] if quality > 0.4 else BODY_SPAM[rng.integers(len(BODY_SPAM))],
        body_text=body,
        link_count=int(rng.poisson(2 + 10 * spam)),
        image_count=int(rng.poisson(1 + 6 * spam)),
        has_unsubscribe_link=has_unsub,
        has_list_unsubscribe_header=one_click,
        personalization_level=personalization,
        spamminess=spam,
        quality=quality,
    )


# How the providers' filters read spamminess off the text: the least-squares weights of the
# generator's hidden spamminess on three readings (20,000 contents, R² 0.60). The text is written
# from the hidden number, so as written the two agree; a rewrite moves what the filters perceive by
# what it changed in these readings, and the rest (the offer itself, images, links) stays.
TEXT_READING_WEIGHTS = {"phrases": 0.020, "subject_caps": 0.105, "exclamations": 0.031}
_PHRASE_PATTERNS = tuple(re.compile(re.escape(p), re.IGNORECASE) for p in SPAM_PHRASES)


def text_readings(subject: str, preheader: str, body: str) -> dict[str, float]:
    """What a provider's content filter counts in a message: trigger phrases anywhere, the share of
    capitals among the subject's letters, exclamation marks anywhere."""
    text = " ".join((subject, preheader, body))
    letters = [ch for ch in subject if ch.isalpha()]
    return {"phrases": float(sum(len(p.findall(text)) for p in _PHRASE_PATTERNS)),
            "subject_caps": sum(ch.isupper() for ch in letters) / max(len(letters), 1),
            "exclamations": float(text.count("!"))}


def _text_spamminess(subject: str, preheader: str, body: str) -> float:
    readings = text_readings(subject, preheader, body)
    return sum(TEXT_READING_WEIGHTS[k] * readings[k] for k in TEXT_READING_WEIGHTS)


def rewrite(content: Content, subject: str, preheader: str, body_text: str) -> Content:
    """The same campaign with new text (a sender applying suggestions before it goes out): the
    filters perceive its spamminess moved by what the new text changed in their readings; an
    unsubscribe link is there when the body has one."""
    before = _text_spamminess(content.subject, content.preheader, content.body_text)
    after = _text_spamminess(subject, preheader, body_text)
    spam = float(np.clip(content.spamminess + after - before, 0.01, 0.99))
    return replace(content, subject=subject, preheader=preheader, body_text=body_text, spamminess=spam,
                   has_unsubscribe_link="unsubscribe" in body_text.lower())


def _personalization_p(quality: float) -> list[float]:
    advanced = 0.05 + 0.3 * quality
    basic = 0.35
    return [1 - advanced - basic, basic, advanced]
