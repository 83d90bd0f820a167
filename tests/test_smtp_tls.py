"""Email over TLS: STARTTLS and smtps:// against a real aiosmtpd with a
certificate from a throwaway CA (trustme), verified as in production."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller

from monitor.channels.smtp import SmtpConfig, SmtpSender
from monitor.errors import DeliveryError
from tests.conftest import MailSink, _authenticate, free_port


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender trusts the throwaway CA the way it trusts any other: through
    the default verify paths, which OpenSSL reads from SSL_CERT_FILE."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


def _server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def starttls_server(authority: trustme.CA) -> Iterator[tuple[MailSink, int]]:
    sink, port = MailSink(), free_port()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, tls_context=_server_context(authority),
        require_starttls=True, authenticator=_authenticate, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def smtps_server(authority: trustme.CA) -> Iterator[tuple[MailSink, int]]:
    sink, port = MailSink(), free_port()
    # aiosmtpd counts only STARTTLS as TLS when it decides to offer AUTH; the
    # whole connection is TLS here, so it is told not to wait for one.
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, ssl_context=_server_context(authority),
        authenticator=_authenticate, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    yield sink, port
    controller.stop()


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "m@example.org", "a@example.org", "Hi"
    message["Date"] = datetime(2026, 11, 25, tzinfo=UTC)
    message.set_content("Kursk")
    return message


def test_starttls_with_authentication(trusted: None, starttls_server: tuple[MailSink, int]) -> None:
    sink, port = starttls_server
    url = f"smtp://monitor:secret@127.0.0.1:{port}?starttls=true"
    SmtpSender(SmtpConfig.from_url(url), timeout=10).send(_message(), "a@example.org")
    [mail] = sink.wait_for(1)
    assert mail["Subject"] == "Hi"


def test_without_starttls_the_server_refuses_for_good(
    trusted: None, starttls_server: tuple[MailSink, int]
) -> None:
    _, port = starttls_server
    plain = SmtpSender(SmtpConfig.from_url(f"smtp://127.0.0.1:{port}"), timeout=10)
    with pytest.raises(DeliveryError) as refused:
        plain.send(_message(), "a@example.org")
    assert refused.value.permanent and "530" in str(refused.value)


def test_smtps_with_authentication(trusted: None, smtps_server: tuple[MailSink, int]) -> None:
    sink, port = smtps_server
    url = f"smtps://monitor:secret@127.0.0.1:{port}"
    SmtpSender(SmtpConfig.from_url(url), timeout=10).send(_message(), "a@example.org")
    assert len(sink.wait_for(1)) == 1


def test_an_untrusted_certificate_is_refused_and_retried_later(
    smtps_server: tuple[MailSink, int],
) -> None:
    sink, port = smtps_server
    sender = SmtpSender(SmtpConfig.from_url(f"smtps://127.0.0.1:{port}"), timeout=10)
    with pytest.raises(DeliveryError) as refused:
        sender.send(_message(), "a@example.org")
    assert not refused.value.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    assert sink.messages == []
