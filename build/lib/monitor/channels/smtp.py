"""Email: the message built from an outbox row, and SMTP to send it, one
recipient per connection."""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from monitor.errors import ConfigError, DeliveryError
from monitor.redact import redact_url
from monitor.types import OutboxMessage


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool  # smtps://: TLS from the first byte
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """smtp://user:pass@host:port, smtps://..., ?starttls=true"""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(
                f"MONITOR_SMTP_URL must look like smtp://user:pass@host:port, not {redact_url(url)}"
            )
        options = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=options.get("starttls") in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class MailSender(Protocol):
    def send(self, message: EmailMessage, recipient: str) -> None: ...


# The SMTP stage each kind of refusal comes from, for the logged reason.
_STAGES: dict[type[smtplib.SMTPResponseException], str] = {
    smtplib.SMTPConnectError: "greeting",
    smtplib.SMTPHeloError: "HELO",
    smtplib.SMTPAuthenticationError: "AUTH",
    smtplib.SMTPSenderRefused: "MAIL FROM",
    smtplib.SMTPDataError: "DATA",
}


class SmtpSender:
    """Sends one message to one recipient per connection: each outbox row is
    one recipient, so a refusal or a failure touches that row only and a
    retry never reaches someone who already accepted the message."""

    def __init__(self, config: SmtpConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Raises DeliveryError, ``permanent`` for a 5xx answer; 4xx answers,
        timeouts, refused or dropped connections are worth retrying."""
        try:
            with self._connect() as smtp:
                if self.config.username:
                    smtp.login(self.config.username, self.config.password or "")
                self._deliver(smtp, message, recipient)
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()), (0, b""))
            raise DeliveryError(_reply("RCPT TO", code, text), permanent=_permanent(code)) from e
        except smtplib.SMTPResponseException as e:
            stage = next((name for t, name in _STAGES.items() if isinstance(e, t)), "SMTP")
            reason = _reply(stage, e.smtp_code, e.smtp_error)
            if isinstance(e, smtplib.SMTPAuthenticationError):
                reason += " (check the user and password in MONITOR_SMTP_URL)"
            raise DeliveryError(reason, permanent=_permanent(e.smtp_code)) from e
        except smtplib.SMTPServerDisconnected as e:
            # Possibly after the message was taken: a retry may deliver a
            # second copy, with the same Message-ID, rather than none.
            raise DeliveryError(f"the SMTP server closed the connection: {e}") from e
        except (smtplib.SMTPException, OSError) as e:
            where = f"{self.config.host}:{self.config.port}"
            raise DeliveryError(f"SMTP server {where}: {type(e).__name__}: {e}") from e

    def _deliver(self, smtp: smtplib.SMTP, message: EmailMessage, recipient: str) -> None:
        """Send, within the server's size limit: a message larger than the
        SIZE it announces, or refused as too large (552), goes as its text
        alone, cut to fit, rather than failing with everything in it."""
        smtp.ehlo_or_helo_if_needed()
        limit = _announced_size(smtp)
        if limit is not None and _size(message) > limit:
            message = fitted(message, limit)
        try:
            # The envelope is given, not read from the headers: a header
            # can never add a recipient.
            smtp.send_message(message, to_addrs=[recipient])
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
            if e.smtp_code != TOO_LARGE:
                raise
            smtp.rset()
            smtp.send_message(
                fitted(message, min(_size(message) // 2, 1024 * 1024)), to_addrs=[recipient]
            )

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.tls:
            return smtplib.SMTP_SSL(
                c.host, c.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
        if c.starttls:
            smtp.starttls(context=ssl.create_default_context())
        return smtp


# RFC 5321: "552 Requested mail action aborted: exceeded storage allocation",
# what Postfix and others answer to a message over their size limit.
TOO_LARGE = 552


def _announced_size(smtp: smtplib.SMTP) -> int | None:
    value = smtp.esmtp_features.get("size", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _size(message: EmailMessage) -> int:
    return len(message.as_bytes())


def fitted(message: EmailMessage, limit: int) -> EmailMessage:
    """The message as its plain text alone, cut so that the whole stays
    under ``limit`` bytes, saying so at the end; the same headers (the same
    Message-ID: a copy that got through before is recognised)."""
    text_part = message.get_body(("plain",))
    text = text_part.get_content() if text_part is not None else ""
    fitting = EmailMessage()
    for name, value in message.items():
        if not name.lower().startswith(("content-", "mime-")):
            fitting[name] = value
    budget = max(limit - len(fitting.as_bytes()) - 2048, 0)
    # quoted-printable or base64 may grow text by a third: keep a margin.
    cut = text.encode("utf-8")[: budget * 2 // 3].decode("utf-8", errors="ignore")
    how = "as plain text, cut," if len(cut) < len(text) else "as plain text"
    fitting.set_content(
        f"{cut}\n\n[Sent {how} to fit the mail server's limit of {limit:,} bytes; "
        "the whole message is in the digest archive.]\n"
    )
    return fitting


def _reply(stage: str, code: int, text: bytes | str) -> str:
    """An SMTP answer as one line for a log and the outbox row."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return f"SMTP {stage} answered {code} {clean_header(text, 200)}".rstrip()


def _permanent(code: int) -> bool:
    return 500 <= code < 600


_UNSAFE_IN_HEADER = re.compile("[\x00-\x1f\x7f\u0085\u2028\u2029]+")
MAX_SUBJECT = 200


def clean_header(value: str, limit: int = MAX_SUBJECT) -> str:
    """One bounded line: no CR/LF or other separators, no encoded-word openers.

    Every header value built from feed or watchlist data goes through here:
    a title must never add a header. The email package of Python 3.11.7
    decodes ``=?UTF-8?Q?=0A?=`` into a raw newline when it folds a header
    (CVE-2024-6923), so an encoded-word opener is broken up here, on every
    Python, instead of relying on it.
    """
    value = value.encode("utf-8", errors="replace").decode("utf-8")  # lone surrogates
    value = _UNSAFE_IN_HEADER.sub(" ", value)
    value = value.replace("=?", "= ?")
    value = re.sub(r"\s+", " ", value).strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def message_id(idempotency_key: str, mail_from: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    domain = parseaddr(mail_from)[1].rsplit("@", 1)[-1] if "@" in mail_from else ""
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "monitor.localhost"
    return f"<{digest}@{domain}>"


def build_email(message: OutboxMessage, mail_from: str, now: datetime) -> EmailMessage:
    """The message for one outbox row. Same row, same Message-ID: a resent
    copy is recognisable as the same message."""
    email = EmailMessage()
    list_id = re.sub(r"[^A-Za-z0-9-]", "-", message.watchlist)
    email["Subject"] = clean_header(message.subject)
    email["From"] = clean_header(mail_from, 320)
    email["To"] = clean_header(message.recipient, 320)
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(message.idempotency_key, mail_from)
    email["List-Id"] = f"<{list_id}.monitor>"
    email["X-Monitor-Watchlist"] = list_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    return email
