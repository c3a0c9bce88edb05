"""SMTP delivery from the EMAIL_* settings: STARTTLS (default), implicit TLS or none, with a
timeout, and a login when EMAIL_USER is set."""

import smtplib
import ssl
from email.message import EmailMessage

from plugin_analytics.config import Settings


class MailError(Exception):
    """The SMTP server could not be reached or did not take the message; says which and why."""


def send_email(message: EmailMessage, settings: Settings) -> dict[str, str]:
    """Hand `message` to the SMTP server; the recipients it refused (if it took the others)."""
    host, port = settings.email_host or "", settings.email_port
    where = f"SMTP server {host}:{port}"
    try:
        smtp = _connect(settings)
        try:
            if settings.email_user:
                secret = settings.email_password
                smtp.login(settings.email_user, secret.get_secret_value() if secret else "")
            refused = smtp.send_message(message)
        finally:
            _quit(smtp)  # the message is delivered once DATA is accepted, whatever QUIT says
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"{where} refused the login for {settings.email_user!r}: {_reply(exc)}"
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"{where} refused every recipient: {', '.join(exc.recipients)}") from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{where} refused the message: {_reply(exc)}") from exc
    except UnicodeError as exc:  # smtplib encodes the login as ASCII
        raise MailError(f"EMAIL_USER and EMAIL_PASSWORD must be ASCII for {where}") from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, unreachable, timeout, TLS
        raise MailError(f"{where} is unavailable: {exc or type(exc).__name__}") from exc
    return {recipient: _reply_text(reply) for recipient, reply in refused.items()}


def _connect(settings: Settings) -> smtplib.SMTP:
    host, port, timeout = (
        settings.email_host or "",
        settings.email_port,
        settings.email_timeout_seconds,
    )
    context = ssl.create_default_context()  # verifies the server's certificate and name
    if settings.email_use_tls == "ssl":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if settings.email_use_tls == "starttls":
            smtp.starttls(context=context)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"


def _reply_text(reply: object) -> str:
    if isinstance(reply, tuple):
        code, text = reply
        return f"{code} {_reply_text(text)}"
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
