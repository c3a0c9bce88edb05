"""Text-generation backends: OpenAI, or any server speaking OpenAI's chat-completions API
(LLaMA and other open models served by llama.cpp's server, Ollama or vLLM), both through the
official `openai` SDK. Chosen by AI_BACKEND, OPENAI_API_KEY, AI_BASE_URL and AI_MODEL."""

from dataclasses import dataclass
from typing import Protocol

import openai

from plugin_analytics.config import Settings

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
MAX_ANSWER_TOKENS = 400
RETRIES = 1  # one more try after a timeout, a dropped connection, 429 or 5xx
RETRY_ALLOWANCE_S = 10.0
MIN_SECRET_CHARS = 8  # the SDK's backoff between tries is well under this


class BackendFailed(Exception):
    """The backend gave no usable answer; the message says why, without secrets."""


class TextBackend(Protocol):
    @property
    def model(self) -> str:
        """The model's name, as the backend knows it."""
        ...

    def complete(self, system: str, prompt: str) -> str:
        """The model's answer to `prompt`; BackendFailed when there is none to use."""
        ...


@dataclass(frozen=True)
class OpenAIBackend:
    """OpenAI's chat completions at `base_url` (OpenAI itself, or a compatible server)."""

    model: str
    base_url: str
    api_key: str
    timeout_s: float

    def complete(self, system: str, prompt: str) -> str:
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
        ]
        try:
            with openai.OpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=RETRIES,
            ) as client:
                completion = client.chat.completions.create(
                    model=self.model, messages=messages, max_tokens=MAX_ANSWER_TOKENS
                )
        except openai.APITimeoutError:
            raise BackendFailed(f"no answer within {self.timeout_s:g} s") from None
        except openai.APIConnectionError:
            raise BackendFailed(f"could not connect to {self.base_url}") from None
        except openai.APIStatusError as exc:
            said = _said(exc)
            if len(self.api_key) >= MIN_SECRET_CHARS:  # a server may echo the key it refused
                said = said.replace(self.api_key, "***")
            raise BackendFailed(f"it answered HTTP {exc.status_code}: {said}") from None
        except (openai.OpenAIError, ValueError) as exc:  # not JSON, or not a completion
            raise BackendFailed(f"its answer was malformed ({type(exc).__name__})") from None
        return _text_of(completion)


def _said(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str):
        return message[:200]
    return exc.message[:200]


def _text_of(completion: object) -> str:
    """The first choice's text; BackendFailed when the answer is not shaped as one."""
    try:
        content = completion.choices[0].message.content  # type: ignore[attr-defined]
    except (AttributeError, IndexError, TypeError):
        raise BackendFailed("its answer was malformed (no choices[0].message)") from None
    if not isinstance(content, str) or not content.strip():
        raise BackendFailed("its answer was empty")
    return content.strip()


def backend_of(settings: Settings) -> TextBackend | None:
    """The configured backend, or None (the built-in summary is used)."""
    if not settings.ai_enabled:
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return OpenAIBackend(
        model=settings.ai_model or DEFAULT_OPENAI_MODEL,
        base_url=settings.ai_base_url or OPENAI_URL,
        # Local servers need no key, but the SDK insists on one.
        api_key=key or "no-key",
        timeout_s=settings.ai_timeout_seconds,
    )


def longest_wait_s(settings: Settings) -> float:
    """The longest a backend call may take, retries included (0 without a backend)."""
    if not settings.ai_enabled:
        return 0.0
    return (RETRIES + 1) * settings.ai_timeout_seconds + RETRY_ALLOWANCE_S
