"""MDL-007 answered per request row: one campaign's content in, spec §3.4's answer out, the same
code in the MLflow pyfunc and the MLServer runtime. A row carries what the sender wrote and the
headers the compliance checks read; issues travel as one JSON text per row."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.decisions.service import RequestError, batch_size
from adaptive_delivery.delivery.models.mdl007_content.content import (
    MAX_BODY_CHARS,
    Content,
    html_to_text,
    links_in,
    tidy,
)
from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor

MAX_BATCH = 1_000  # campaigns per request (each is scored once, then cached by content hash)
REQUIRED = ("subject",)
# request input -> the message header the compliance checks read
HEADER_INPUTS = {"list_unsubscribe": "List-Unsubscribe", "list_unsubscribe_post": "List-Unsubscribe-Post",
                 "from_address": "From", "in_reply_to": "In-Reply-To"}
OPTIONAL = ("body", "body_html", "preheader", *HEADER_INPUTS)
# Texts the runtime takes past the platform's 1,024-character limit: a whole body (plain or HTML;
# longer is refused with a 400, never cut silently) and a long subject or header.
TEXT_LIMITS = {"body": 4 * MAX_BODY_CHARS, "body_html": 16 * MAX_BODY_CHARS, "subject": 2_000, "preheader": 2_000,
               "list_unsubscribe": 2_000}
OUTPUTS = ("overall_score", "spam_risk", "compliance", "engagement_potential", "predicted_open_rate",
           "predicted_click_rate", "spam_probability", "approved_for_send", "issues", "rewritten_subject",
           "rewritten_spam_risk", "content_hash")


def _text(columns: Mapping[str, np.ndarray], name: str, n: int) -> list[str]:
    if name not in columns:
        return [""] * n
    values = np.asarray(columns[name]).reshape(-1)
    if len(values) != n:
        raise RequestError(f"input {name!r} has {len(values)} values for {n} rows")
    out = []
    for v in values.tolist():
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if v is None or (isinstance(v, float) and np.isnan(v)):
            v = ""
        if not isinstance(v, str):
            raise RequestError(f"input {name!r} must be text (BYTES), not {type(v).__name__}")
        out.append(v)
    return out


def contents_of(columns: Mapping[str, np.ndarray]) -> list[Content]:
    """Request columns -> contents; RequestError on anything the caller must fix."""
    unknown = sorted(set(columns) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise RequestError(f"unknown inputs {unknown}; MDL-007 reads {list(REQUIRED + OPTIONAL)}")
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RequestError(f"missing inputs: {', '.join(missing)}")
    if "body" not in columns and "body_html" not in columns:
        raise RequestError("send the body as 'body' (plain text) or 'body_html'")
    n = batch_size(columns, MAX_BATCH)
    text = {name: _text(columns, name, n) for name in (*REQUIRED, *OPTIONAL)}
    out = []
    for i in range(n):
        body, links = tidy(text["body"][i]), []
        if not body.strip() and text["body_html"][i].strip():
            body, links = html_to_text(text["body_html"][i])
        headers = {header: text[name][i].strip() for name, header in HEADER_INPUTS.items() if text[name][i].strip()}
        links = list(dict.fromkeys([*links, *links_in(body)]))
        out.append(Content(subject=tidy(text["subject"][i]), body=body[:MAX_BODY_CHARS],
                           preheader=tidy(text["preheader"][i]), links=tuple(links),
                           html=bool(text["body_html"][i].strip()), headers=headers))
    return out


def answer_rows(assessor: ContentAssessor, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One array per output, one value per request row."""
    answers = [assessor.assess(c) for c in contents_of(columns)]
    return answer_columns(answers)


def answer_columns(answers: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """spec §3.4 answers as columns (issues as JSON text, a missing rewrite as '' and -1, no
    engagement model as NaN)."""
    def col(values: list, dtype: Any = object) -> np.ndarray:
        return np.asarray(values, dtype=dtype)

    rewritten = [a["rewritten"] or {"subject": "", "spam_risk": -1} for a in answers]
    return {
        "overall_score": col([a["overall_score"] for a in answers], np.float64),
        "spam_risk": col([a["category_scores"]["spam_risk"] for a in answers], np.float64),
        "compliance": col([a["category_scores"]["compliance"] for a in answers], np.float64),
        "engagement_potential": col([a["category_scores"].get("engagement_potential", np.nan) for a in answers],
                                    np.float64),
        "predicted_open_rate": col([(a["engagement"] or {}).get("predicted_open_rate", np.nan) for a in answers],
                                   np.float64),
        "predicted_click_rate": col([(a["engagement"] or {}).get("predicted_click_rate", np.nan) for a in answers],
                                    np.float64),
        "spam_probability": col([a["spam_probability"] for a in answers], np.float64),
        "approved_for_send": col([float(a["approved_for_send"]) for a in answers], np.float64),
        "issues": col([json.dumps(a["issues"]) for a in answers]),
        "rewritten_subject": col([r["subject"] for r in rewritten]),
        "rewritten_spam_risk": col([r["spam_risk"] for r in rewritten], np.float64),
        "content_hash": col([a["content_hash"] for a in answers]),
    }


def example_request() -> pd.DataFrame:
    """Two campaigns, a clean newsletter and a pushy offer without an unsubscribe path."""
    return pd.DataFrame({
        "subject": ["Your March product update", "FREE cash bonus!!! Act now"],
        "preheader": ["Three new features and a webinar", ""],
        "body": ["Hello Ana,\nHere is what changed in March: faster exports and shared folders.\n"
                 "Manage your preferences or unsubscribe: https://news.example.com/prefs\n"
                 "Example Ltd, 12 High Street, London SW1A 1AA",
                 "Click here now to claim your cash bonus!!! Limited time, 100% guaranteed.\n"
                 "http://bit.ly/claim-now"],
        "body_html": ["", ""],
        "list_unsubscribe": ["<https://news.example.com/u/ana>", ""],
        "list_unsubscribe_post": ["List-Unsubscribe=One-Click", ""],
        "from_address": ["Example News <news@example.com>", "Deals <win@deals.example.net>"],
        "in_reply_to": ["", ""],
    })
