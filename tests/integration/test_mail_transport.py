"""The SMTP adapter against a real server on loopback: plain, STARTTLS and implicit TLS, with
authentication; and the settings that choose it (no database needed)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp.config import ConfigError, load_settings
from idp.storage.mail_sender import MAX_RETRY, retry_delay
from idp.storage.mail_templates import composer
from idp.storage.smtp_mailer import MailDeferred, OutgoingMail, SmtpTransport
from tests.smtp_server import SmtpServer, _Inbox, body_html, body_text, free_port

MAIL = OutgoingMail(1, "dana@example.com", "Hello", "plain body\n", "<p>html body</p>")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


def _server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _client_context(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


class _Authenticator:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = auth_data.login == b"tessera" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)


def _serve(certificate, **kwargs):
    inbox, port = _Inbox(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=_Authenticator(),
        server_hostname="127.0.0.1", **{"auth_require_tls": True, **kwargs},
    )  # fmt: skip
    controller.start()
    return controller, inbox, port


def test_plain_smtp_delivers_text_and_html():
    server = SmtpServer().start()
    try:
        SmtpTransport(server.url, "Tessera <no-reply@id.test>", "id.test").send(MAIL)
        [message] = server.wait_for(1)
    finally:
        server.stop()
    assert body_text(message).rstrip() == "plain body" and "html body" in body_html(message)
    assert message["Message-ID"].endswith("@id.test>") and message["Auto-Submitted"]


def _send_trusting(certificate, url: str, inbox=None):
    """Send MAIL to `url` trusting the test certificate; the first message `inbox` receives."""
    SmtpTransport(url, "a@id.test", "id.test", tls_context=_client_context(certificate)).send(MAIL)
    if inbox is None:
        return None
    with inbox.arrived:
        inbox.arrived.wait_for(lambda: inbox.messages, 10)
    return inbox.messages[0]


def test_starttls_with_login(certificate):
    controller, inbox, port = _serve(
        certificate, tls_context=_server_context(certificate), require_starttls=True
    )
    try:
        url = f"smtp+starttls://tessera:s3cret@127.0.0.1:{port}"
        assert _send_trusting(certificate, url, inbox)["Subject"] == "Hello"
        with pytest.raises(MailDeferred):
            _send_trusting(certificate, f"smtp+starttls://tessera:wrong@127.0.0.1:{port}")
        # An untrusted certificate is an error, never a fallback to clear text.
        with pytest.raises(MailDeferred, match="CERTIFICATE_VERIFY_FAILED"):
            SmtpTransport(url, "a@id.test", "id.test").send(MAIL)
    finally:
        controller.stop()


def test_smtps_with_login(certificate):
    # aiosmtpd does not count implicit TLS as TLS for auth_require_tls: the socket is TLS here.
    controller, inbox, port = _serve(
        certificate, ssl_context=_server_context(certificate), auth_require_tls=False
    )
    try:
        url = f"smtps://tessera:s3cret@127.0.0.1:{port}"
        assert _send_trusting(certificate, url, inbox)["To"] == "dana@example.com"
    finally:
        controller.stop()


def test_a_server_without_starttls_is_refused_for_smtp_starttls():
    server = SmtpServer().start()
    try:
        url = f"smtp+starttls://127.0.0.1:{server.port}"
        with pytest.raises(MailDeferred, match="STARTTLS"):
            SmtpTransport(url, "a@id.test", "id.test").send(MAIL)
        assert server.messages == []
    finally:
        server.stop()


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://mail.example.com", "the scheme must be one of"),
        ("smtp://", "a host is required"),
        ("smtp://mail.example.com:port", "the port must be a number"),
        ("smtp://u:p@mail.example.com", "smtp:// would send the password in clear"),
    ],
)
def test_bad_smtp_url_stops_start_up_with_the_setting_named(url, message, tmp_path):
    with pytest.raises(ConfigError, match=f"TESSERA_SMTP_URL: {message}"):
        load_settings({"SMTP_URL": url, "INSTANCE_PATH": str(tmp_path)}, environ={})


def test_mail_from_defaults_to_the_issuer_host(tmp_path):
    settings = load_settings(
        {"ISSUER": "https://id.example.com", "INSTANCE_PATH": str(tmp_path)}, environ={}
    )
    assert settings.mail_from == "Tessera <no-reply@id.example.com>"


def test_subject_stays_one_line_and_html_is_escaped():
    mail = composer.compose("verify_email", username="<b>x</b>\nBcc: a@b", link="l", hours=24)
    assert "\n" not in mail.subject
    assert "&lt;b&gt;x&lt;/b&gt;" in mail.html and "<b>x</b>" not in mail.html


def test_retry_backoff_doubles_up_to_its_cap():
    delays = [retry_delay(n).total_seconds() for n in range(1, 10)]
    assert delays[:4] == [15, 30, 60, 120] and delays[-1] == MAX_RETRY.total_seconds()


class _RefusingInbox(_Inbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user"


def test_a_recipient_refused_for_good_is_rejected_not_retried():
    from idp.storage.smtp_mailer import MailRejected

    port = free_port()
    controller = Controller(_RefusingInbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with pytest.raises(MailRejected, match="550"):
            SmtpTransport(f"smtp://127.0.0.1:{port}", "a@id.test", "id.test").send(MAIL)
    finally:
        controller.stop()
