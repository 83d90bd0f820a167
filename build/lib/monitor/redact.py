"""Secrets kept out of what is printed (pure): the password in a URL's
userinfo (smtp://user:PASSWORD@host), a bare token standing there
(https://TOKEN@host), and query values named like secrets (?token=...)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_NAMES = re.compile(r"(token|secret|passw(or)?d|pass|api_?key|key|auth|sig(nature)?)$", re.I)
# A URL's userinfo, wherever one stands in a text: scheme://user:password@ or scheme://token@
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][\w+.-]*://)(?P<user>[^\s/@:]*)(?P<password>:[^\s/@]*)?@"
)


def redact_url(url: str) -> str:
    """``url`` as it may be printed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    secret_query = any(
        _SECRET_NAMES.search(name) for name, _ in parse_qsl(parts.query, keep_blank_values=True)
    )
    if "@" not in netloc and not secret_query:
        return url  # as written: urlunsplit would turn sqlite:///x into sqlite:/x
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
    query = parts.query
    if secret_query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(n, MASK if _SECRET_NAMES.search(n) else v) for n, v in pairs]
        query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """A message with the userinfo of any URL in it masked."""
    return _USERINFO.sub(_mask, text)


def _mask(found: re.Match[str]) -> str:
    scheme, user = found.group("scheme"), found.group("user")
    return f"{scheme}{user}:{MASK}@" if found.group("password") else f"{scheme}{MASK}@"
