"""A real SMTP server on loopback for the report tests: aiosmtpd with STARTTLS or implicit TLS
(a throwaway CA from trustme) and AUTH, keeping every message it accepts."""

import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.pg import free_port

USER, PASSWORD = "reports@example.com", "smtp-secret"
Mode = Literal["starttls", "ssl", "none"]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse: str | None = None  # e.g. "554 5.7.1 rejected": refuse every message with this reply
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return self.refuse
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from or "", list(envelope.rcpt_tos), parsed)
            )
        return "250 OK"


def _authenticate(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


class SmtpServer:
    """Start with start(), stop with stop(); `port` stays the same across restarts, so a test
    can take the server down and bring it back."""

    def __init__(self, ca: trustme.CA, mode: Mode = "starttls", *, auth: bool = True) -> None:
        self.mode, self.auth, self.port = mode, auth, free_port()
        self.handler = Handler()
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(self._context)
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> "SmtpServer":
        options: dict[str, Any] = {}
        if self.auth:
            # aiosmtpd counts only STARTTLS as TLS; implicit TLS is encrypted from the start.
            options.update(authenticator=_authenticate, auth_require_tls=self.mode == "starttls")
        if self.mode == "starttls":
            options.update(tls_context=self._context, require_starttls=True)
        elif self.mode == "ssl":
            options.update(ssl_context=self._context)
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="localhost",
            **options,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self) -> dict[str, Any]:
        """EMAIL_* settings (as keyword arguments of load_settings) that reach this server."""
        values: dict[str, Any] = {
            "email_host": "localhost",
            "email_port": self.port,
            "email_use_tls": self.mode,
            "email_from": "Reports <reports@example.com>",
            "report_recipients": ["owner@example.com", "Team <team@example.com>"],
            "email_timeout_seconds": 5,
        }
        if self.auth:
            values.update(email_user=USER, email_password=PASSWORD)
        return values

    def environment(self) -> dict[str, str]:
        """The same settings as environment variables, for a server process."""
        values = self.settings()
        env = {
            key.upper(): str(value) for key, value in values.items() if key != "report_recipients"
        }
        env["REPORT_RECIPIENTS"] = ",".join(values["report_recipients"])
        return env


def ca_bundle(ca: trustme.CA, directory: Path) -> Path:
    """The throwaway CA as a PEM file, for SSL_CERT_FILE."""
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
