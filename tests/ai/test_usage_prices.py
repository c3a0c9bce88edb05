"""AI_PRICES: exact decimals from the environment, and bad prices refused naming it."""

from decimal import Decimal

import pytest

from plugin_analytics.config import SettingsError, load_settings

pytestmark = pytest.mark.anyio

# --- AI_PRICES -------------------------------------------------------------------------------


@pytest.fixture
def no_prices(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("AI_PRICES", raising=False)
    return monkeypatch


def test_prices_from_the_environment_are_exact_decimals(no_prices: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).ai_prices == {}
    no_prices.setenv(
        "AI_PRICES",
        '{"gpt-4o": {"input": 2.5, "output": 10}, "gpt-4o-mini*": {"input": 0.15, '
        '"output": "0.6"}, "free*": {"input": 0, "output": 0}}',
    )
    prices = load_settings(_env_file=None).ai_prices
    assert {key: (p.input, p.output) for key, p in prices.items()} == {
        "gpt-4o": (Decimal("2.5"), Decimal(10)),
        "gpt-4o-mini*": (Decimal("0.15"), Decimal("0.6")),
        "free*": (Decimal(0), Decimal(0)),
    }


@pytest.mark.parametrize(
    ("prices", "fragment"),
    [
        ('{"gpt-4o": {"input": -0.01, "output": 10}}', "greater than or equal to 0"),
        ('{"gpt-4o": {"input": 2.5, "output": 10, "cached": 1.25}}', "Extra inputs"),
        ('{"gpt-4o": {"input": 2.5}}', "Field required"),
        ('{"gpt-*4o": {"input": 2.5, "output": 10}}', "'gpt-*4o': a key is a model name"),
        ('{"gpt-4o**": {"input": 2.5, "output": 10}}', "'gpt-4o**': a key is a model name"),
        ('{"": {"input": 2.5, "output": 10}}', "'': a key is a model name"),
        ('{"gpt-4o": {"input": "NaN", "output": 10}}', "finite number"),
        ('{"gpt-4o": 2.5}', "valid dictionary"),
        ('[["gpt-4o", {"input": 2.5, "output": 10}]]', "valid dictionary"),
    ],
)
def test_bad_prices_are_named(no_prices: pytest.MonkeyPatch, prices: str, fragment: str) -> None:
    no_prices.setenv("AI_PRICES", prices)
    with pytest.raises(SettingsError, match="AI_PRICES") as refused:
        load_settings(_env_file=None)
    assert fragment in str(refused.value)


def test_a_bad_price_given_directly_is_named() -> None:
    with pytest.raises(SettingsError, match="AI_PRICES"):
        load_settings(_env_file=None, ai_prices={"gpt-4o": {"input": 1, "output": -1}})


def test_prices_that_are_not_json_are_named(no_prices: pytest.MonkeyPatch) -> None:
    no_prices.setenv("AI_PRICES", '{"gpt-4o": {"input": 2.5,')
    with pytest.raises(SettingsError, match="AI_PRICES"):
        load_settings(_env_file=None)
