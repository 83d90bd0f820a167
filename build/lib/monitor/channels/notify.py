"""Notification URLs through Apprise (Slack, Telegram, Matrix, ntfy, JSON
webhooks, ...)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from monitor.errors import DeliveryError


class NotifySender:
    """Notification URLs through Apprise (Slack, Telegram, Matrix, ntfy,
    JSON webhooks, ...). A watchlist may name ``env:VARIABLE`` instead of the
    URL, so tokens stay in the environment rather than in the file."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.environ = environ

    def resolve(self, reference: str) -> str:
        if not reference.startswith("env:"):
            return reference
        name = reference.removeprefix("env:")
        url = self.environ.get(name)
        if not url:
            raise DeliveryError(f"environment variable {name} is not set", permanent=True)
        return url

    def send(self, reference: str, title: str, body: str, idempotency_key: str = "") -> None:
        """Deliver one notification. Webhooks (json://, xml://, form://) carry
        ``idempotency_key`` as an Idempotency-Key header, so a receiver can
        drop the copy a retry after a lost answer sends again."""
        url = self.resolve(reference)
        if idempotency_key and urlsplit(url).scheme in WEBHOOK_SCHEMES:
            # Apprise sends a query parameter written "+Name=value" as a header.
            separator = "&" if "?" in url else "?"
            url += f"{separator}{urlencode({'+Idempotency-Key': idempotency_key})}"
        import apprise  # loaded with the first notification, not with every command

        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryError(
                f"{reference}: not a notification URL Apprise knows", permanent=True
            )
        if not notifier.notify(title=title, body=body):
            raise DeliveryError(f"{reference}: the notification service did not accept it")


WEBHOOK_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
