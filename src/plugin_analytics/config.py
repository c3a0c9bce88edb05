"""Settings from the environment and `.env`; nothing else reads configuration."""

import json
import re
from decimal import Decimal
from email.headerregistry import Address
from email.utils import parseaddr
from functools import lru_cache
from ipaddress import ip_address, ip_network
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from phonenumbers import SUPPORTED_REGIONS
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from plugin_analytics.db.models import DEFAULT_SITE
from plugin_analytics.reports.cron import cron_trigger

ORIGIN_PATTERN = re.compile(r"^https?://[^/\s?#]+$")
RATE_LIMIT_PATTERN = re.compile(r"^\s*([1-9]\d*)\s*/\s*(second|minute|hour|day)\s*$")

# A WRITE_KEYS entry is `KEY`, a key of the site `default`, or `SITE:KEY`, a key of the site
# SITE. An entry is split at its first colon, and only then, so a key may hold colons after it
# (`default:a:b` is the key `a:b` of `default`): the part before must be a site id (the slug of
# sites.registry.SLUG) and the part after a key. A key made by `keys create` never holds a colon,
# and a key with one could not be sent as HTTP Basic's user name anyway; so an entry with a colon
# that is not SITE:KEY is refused at startup rather than guessed at. Whether SITE exists is only
# known from the database: the key ring checks it at each reload (an unknown site's entry is
# logged and ignored, never a crash).
SITE_KEY = re.compile(r"(?P<site>[a-z0-9][a-z0-9-]{0,62}):(?P<key>.+)")

CommaList = Annotated[list[str], NoDecode]
MIN_ADMIN_KEY_LENGTH = 16


class SettingsError(RuntimeError):
    """Raised when a configuration value is invalid; the message names every bad variable."""


class ModelPrice(BaseModel):
    """What a model costs, in US dollars per million tokens."""

    model_config = {"extra": "forbid"}

    input: Decimal = Field(ge=0, le=1_000_000)
    output: Decimal = Field(ge=0, le=1_000_000)


class Settings(BaseSettings):
    """Every variable the service reads, with its default (see README, Configuration)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(default="sqlite:///./analytics.db", repr=False)  # may hold a password
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    admin_api_key: SecretStr | None = None
    write_keys: CommaList = []
    cors_origins: CommaList = []
    ingest_rate_limit: str = ""
    trusted_proxies: CommaList = []
    redact_pii: bool = False
    redact_pii_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    retention_days: int | None = Field(default=None, ge=1, le=36_500)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    ai_backend: Literal["auto", "openai", "none"] = "auto"
    openai_api_key: SecretStr | None = None
    ai_base_url: str | None = None
    ai_model: str | None = Field(default=None, max_length=256)
    ai_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    ai_max_messages: int = Field(default=200, ge=1, le=10_000)
    # Model name, or a prefix ending in * ("gpt-4o-*"), to its price; JSON in the environment.
    ai_prices: Annotated[dict[str, ModelPrice], NoDecode] = {}

    email_host: str | None = None
    email_port: int = Field(default=587, ge=1, le=65535)
    email_user: str | None = None
    email_password: SecretStr | None = None
    email_from: str | None = None
    email_use_tls: Literal["starttls", "ssl", "none"] = "starttls"
    email_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    site_name: str = Field(default="Your site", min_length=1, max_length=100)
    report_recipients: CommaList = []
    report_schedule: str = "0 8 * * mon"
    report_timezone: str = "UTC"
    scheduler_enabled: bool = True

    @field_validator(
        "write_keys", "cors_origins", "report_recipients", "trusted_proxies", mode="before"
    )
    @classmethod
    def split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def known_database(cls, value: str) -> str:
        if not value.startswith(
            ("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")
        ):
            raise ValueError("must start with sqlite://, postgresql:// or postgresql+psycopg://")
        return value

    @field_validator("report_timezone")
    @classmethod
    def known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a directory
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("report_schedule")
    @classmethod
    def valid_cron(cls, value: str) -> str:
        try:
            cron_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc})") from exc
        return value

    @field_validator("cors_origins")
    @classmethod
    def valid_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not ORIGIN_PATTERN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port] with no path, or *"
                )
        return value

    @field_validator("report_recipients")
    @classmethod
    def valid_recipients(cls, value: list[str]) -> list[str]:
        return [mailbox(address) for address in value]

    @field_validator("email_from")
    @classmethod
    def valid_sender(cls, value: str | None) -> str | None:
        return mailbox(value) if value and value.strip() else None

    @field_validator("site_name")
    @classmethod
    def one_line(cls, value: str) -> str:
        if _has_line_break(value):
            raise ValueError("must be one line (it goes into the email's subject)")
        return value.strip()

    @field_validator("ingest_rate_limit")
    @classmethod
    def valid_rate(cls, value: str) -> str:
        if value.strip() and not RATE_LIMIT_PATTERN.match(value):
            raise ValueError("must look like 600/minute (per second, minute, hour or day)")
        return value.strip()

    @field_validator("ai_base_url")
    @classmethod
    def http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https?://[^/\s?#]+", value.strip()):
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:11434/v1")
        return value.strip()

    @field_validator("ai_prices", mode="before")
    @classmethod
    def json_prices(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return {}
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(
                f'must be JSON, like {{"gpt-4o-mini": {{"input": 0.15, "output": 0.6}}}} ({exc})'
            ) from None

    @field_validator("ai_prices")
    @classmethod
    def price_keys(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        for key in value:
            if not key.strip() or "*" in key.removesuffix("*"):
                raise ValueError(
                    f"{key!r}: a key is a model name, or a prefix ending in one * (gpt-4o-*)"
                )
        return value

    @field_validator("admin_api_key")
    @classmethod
    def long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_ADMIN_KEY_LENGTH} characters; "
                "run `plugin-analytics init` to create a random one"
            )
        return value

    @field_validator(
        "admin_api_key",
        "openai_api_key",
        "email_password",
        "retention_days",
        "ai_model",
        mode="before",
    )
    @classmethod
    def empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("write_keys")
    @classmethod
    def usable_write_keys(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry.isascii() or not entry.isprintable() or " " in entry:
                raise ValueError(
                    "each key must be printable ASCII without spaces (it travels in a header)"
                )
            if ":" in entry and not SITE_KEY.fullmatch(entry):
                raise ValueError(
                    "an entry with a colon is SITE:KEY, SITE a site id (lowercase letters, "
                    "digits and hyphens) and KEY not empty; write a key holding a colon as "
                    "default:KEY"
                )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def valid_proxies(cls, value: list[str]) -> list[str]:
        try:  # 10.1.2.3/8 means 10.0.0.0/8, as uvicorn (which matches them) needs it written
            return [
                str(ip_network(proxy, strict=False)) if "/" in proxy else str(ip_address(proxy))
                for proxy in value
            ]
        except ValueError as exc:
            raise ValueError(f"not an IP address or network (CIDR): {exc}") from None

    @field_validator("redact_pii_region")
    @classmethod
    def known_region(cls, value: str) -> str:
        if value not in SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phone numbers are known for")
        return value

    @model_validator(mode="after")
    def usable_backend(self) -> "Settings":
        if self.ai_backend == "openai" and not (self.openai_api_key or self.ai_base_url):
            raise ValueError(
                "AI_BACKEND=openai needs OPENAI_API_KEY (OpenAI) or AI_BASE_URL (a server "
                "speaking OpenAI's API: llama.cpp, Ollama, vLLM)"
            )
        if self.ai_enabled and self.ai_base_url and not self.ai_model:
            raise ValueError("AI_BASE_URL needs AI_MODEL: the name of the model that server runs")
        return self

    @property
    def ai_enabled(self) -> bool:
        """Whether insights are written by a model: AI_BACKEND=openai, or auto with an
        OPENAI_API_KEY or an AI_BASE_URL."""
        if self.ai_backend == "auto":
            return self.openai_api_key is not None or self.ai_base_url is not None
        return self.ai_backend == "openai"

    @property
    def site_write_keys(self) -> list[tuple[str, str]]:
        """WRITE_KEYS as (site id, key) pairs: `default` for an entry naming no site."""
        return [split_write_key(entry) for entry in self.write_keys]

    @property
    def email_configured(self) -> bool:
        return bool(self.email_host and self.report_recipients)

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        for prefix in ("postgresql://", "postgres://"):
            if self.database_url.startswith(prefix):
                return "postgresql+psycopg://" + self.database_url.removeprefix(prefix)
        return self.database_url


def split_write_key(entry: str) -> tuple[str, str]:
    """(site id, key) of one WRITE_KEYS entry, `KEY` or `SITE:KEY` (see SITE_KEY)."""
    match = SITE_KEY.fullmatch(entry)
    return (match["site"], match["key"]) if match else (DEFAULT_SITE, entry)


def mailbox(text: str) -> str:
    """One address, `someone@example.com` or `Name <someone@example.com>`, checked and
    normalised; ValueError says what is wrong. Nothing that could start another header (a line
    break of any kind) gets through."""
    if _has_line_break(text):
        raise ValueError(f"{text!r}: line breaks are not allowed in an address")
    text = text.strip()
    name, address = parseaddr(text) if text.endswith(">") else ("", text)
    if not address:
        raise ValueError(f"{text!r} is not an email address")
    try:
        # ASCII only (an internationalised domain becomes punycode): most SMTP servers and
        # the email package's headers take nothing else.
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False)
        checked = valid.ascii_email or valid.normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{address!r} is not an email address ({exc})") from None
    return str(Address(display_name=name, addr_spec=checked)) if name else checked


def _has_line_break(text: str) -> bool:
    # What str.splitlines breaks on (CR, LF, VT, FF, FS, GS, RS, NEL, U+2028, U+2029), and NUL.
    return len((text + "x").splitlines()) > 1 or "\x00" in text


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one message naming each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"  {str(error['loc'][0]).upper()}: {error['msg']}" if error["loc"] else error["msg"]
            for error in exc.errors()
        ]
        raise SettingsError("Invalid configuration:\n" + "\n".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return load_settings()
