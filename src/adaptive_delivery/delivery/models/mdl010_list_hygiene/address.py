"""What an address says about itself before anything is sent to it: whether it is a valid address
at all (syntax, by `email-validator` in offline mode: no DNS look-up), whether its domain is a
disposable-mail service (the maintained `disposable-email-domains` list, shipped as data), and
whether it is a role account (a shared mailbox such as info@ or sales@, which people rarely sign up
with themselves and which list-rental traps favour).

The checks are the kept libraries' rules, not learned: the model reads their verdict as one
categorical input (`address_check`), and the policy never mails an address that is not valid.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

ADDRESS_CHECKS = ("ok", "role", "disposable", "invalid")
OK, ROLE, DISPOSABLE, INVALID = ADDRESS_CHECKS
# Shared mailboxes (RFC 2142's and the ones list-validation services flag).
ROLE_LOCAL_PARTS = frozenset({
    "abuse", "admin", "administrator", "billing", "contact", "enquiries", "help", "hostmaster", "hr", "info",
    "inquiries", "jobs", "mail", "marketing", "media", "newsletter", "noc", "no-reply", "noreply", "office",
    "postmaster", "press", "sales", "security", "support", "team", "webmaster"})


def check_address(address: object) -> str:
    """One address's verdict (ADDRESS_CHECKS): invalid where the syntax is wrong or it is not text;
    else disposable, role or ok."""
    from disposable_email_domains import blocklist
    from email_validator import EmailNotValidError, validate_email

    if not isinstance(address, str):
        return INVALID
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return INVALID
    if checked.ascii_domain.lower() in blocklist or checked.domain.lower() in blocklist:
        return DISPOSABLE
    if checked.local_part.lower() in ROLE_LOCAL_PARTS:
        return ROLE
    return OK


def check_addresses(addresses: Iterable[object], known: dict[object, str] | None = None) -> np.ndarray:
    """Each address's verdict, as an object array (repeats are checked once). `known` keeps the
    verdicts across calls, so a list checked every morning checks only the addresses new to it."""
    values = list(addresses)
    cache: dict[object, str] = known if known is not None else {}
    out = np.empty(len(values), dtype=object)
    for i, a in enumerate(values):
        key = a if isinstance(a, str) else None
        if key not in cache:
            cache[key] = check_address(a)
        out[i] = cache[key]
    return out
