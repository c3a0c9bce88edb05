"""REDACT_PII: e-mail addresses, card and phone numbers are masked; nothing else is touched."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from plugin_analytics.config import Settings
from plugin_analytics.ingest.redact import redact
from tests.conftest import client_for
from tests.helpers import event, stored_events

MASKED = [
    # E-mail addresses
    ("Hi, my email is Jane.Doe@Example.COM, thanks", "Hi, my email is [email], thanks"),
    ("Contact: support+billing@mail.acme.io.", "Contact: [email]."),
    ("email me (jane@acme.com) or call", "email me ([email]) or call"),
    ('He wrote "jane@acme.com" and <bob@acme.org>', 'He wrote "[email]" and <[email]>'),
    ("JANE@ACME.CO.UK!", "[email]!"),
    ("j.o'brien@sub.domain.example.org is mine", "[email] is mine"),
    ("mailto:jane@acme.com?subject=Hi", "mailto:[email]?subject=Hi"),
    ("josé@bücher.de, ivan@пример.рф, 用户@例子.广告", "[email], [email], [email]"),
    ("संपर्क@डाटामेल.भारत पर लिखें", "[email] पर लिखें"),
    ("reach me at jane@acme.com; or jane@acme.co.uk", "reach me at [email]; or [email]"),
    # Phone numbers, in the national form of the region (US) or in international form
    ("Call me at (415) 555-0132 tomorrow", "Call me at [phone] tomorrow"),
    ("my cell: 415-555-0132.", "my cell: [phone]."),
    ("text 415.555.0132 or 4155550132", "text [phone] or [phone]"),
    ("+1 (415) 555-0132, +14155550132 or tel:+1-415-555-0132", "[phone], [phone] or tel:[phone]"),
    ("call 1-800-555-0199 before 5pm", "call [phone] before 5pm"),
    ("London office: +44 20 7946 0958", "London office: [phone]"),
    ("Berlin (+49 30 901820) or Paris +33 6 12 34 56 78", "Berlin ([phone]) or Paris [phone]"),
    ("Mumbai +91 98765 43210, Tokyo +81 3-1234-5678", "Mumbai [phone], Tokyo [phone]"),
    ("415-555-0132 ext. 12 please", "[phone] please"),
    ("from abroad dial 011 44 20 7946 0958", "from abroad dial [phone]"),
    ("Shanghai +8613800138002", "Shanghai [phone]"),
    # Payment card numbers that pass the Luhn check
    ("card 4111 1111 1111 1111", "card [card]"),
    ("4111-1111-1111-1111", "[card]"),
    ("amex 378282246310005 or 3782 822463 10005", "amex [card] or [card]"),
    ("mc 5555555555554444.", "mc [card]."),
    ("Card: 4111111111111111, exp 12/27, CVV 123", "Card: [card], exp 12/27, CVV 123"),
    ("discover 6011 1111 1111 1117, visa 4222222222222", "discover [card], visa [card]"),
    ("4111 1111 1111 1111 123", "[card] 123"),
    ("order 4111111111111111 (oops, my card)", "order [card] (oops, my card)"),
    # Together, and the text around each mask kept as it was (emoji, right-to-left script)
    ("Call (415) 555-0132 or email jane@acme.com", "Call [phone] or email [email]"),
    ("📞 +1 415 555 0132 📞", "📞 [phone] 📞"),
    ("رقمي \u200e+971 50 123 4567 شكرا", "رقمي \u200e[phone] شكرا"),
    ("order 4111111111111112 for jane@acme.com", "order 4111111111111112 for [email]"),
]

KEPT = [
    "Meeting 10:30-11:45 on 11/24/2026, see you!",
    "Deadline 2026-11-24T10:15:00Z (24/11/2026)",
    "On 2026-11-24 at 10:30 or 24.11.2026",
    "Price: $1,299.00 or 1.299,00 € for 15000 units",
    "cart total 3 x $19.99 = $59.97",
    "Call volume was 1,234,567 last year",
    "order 4111111111111112 arrived",
    "Order #123456789 shipped, ticket #4155550132 closed",
    "Your order number is 4155550132",
    "Invoice INV-2026-004512 is overdue, SKU-4155550132 is out of stock",
    "Reference: 415 555 0132",
    "Your tracking number is 9400 1000 0000 0000 0000 00",
    "Tracking: 1Z999AA10123456784",
    "upgrade to v2.10.3 or 2.10.3-beta",
    "ssh to 192.168.100.200 or 10.0.0.1:8080",
    "In 2019, 2020 and 2021 revenue grew 15%",
    "rooms 109 110 111 112 113 are free",
    "the ratio is 0.5454545454545454",
    "commit 4111111111111111e3b0c442",
    "Room 1204, floor 12, ZIP 94103",
    "request id 123e4567-e89b-12d3-a456-426614174000",
    "follow @acme_support on X, meet @ 5pm at the café",
    "a@b is not an address, neither is user@localhost",
    "see https://shop.example.com/orders/4155550132?item=4111111111111111",
    "or www.example.com/orders/4155550132",
    "ISBN 978-0-306-40615-7 or 0-306-40615-2",
    "Coordinates 37.7749, -122.4194",
    "Unix time 1732443300",
    "The model has 175000000000 parameters",
    "Error code 0x80070005 when installing",
    "Pages 211-227 (2003)",
    "api key sk_live_4155550132abcd",
    "the answer is 42 😀 مرحبا بالعالم",
]

REGIONAL = [
    ("GB", "ring 020 7946 0958 or 07911 123456", "ring [phone] or [phone]"),
    ("GB", "+44 (0)20 7946 0958", "[phone]"),
    ("DE", "Ruf an: 030 901820 oder 0151 23456789", "Ruf an: [phone] oder [phone]"),
    ("FR", "appelez le 06.12.34.56.78 ou le 01 23 45 67 89", "appelez le [phone] ou le [phone]"),
    ("JP", "電話番号は03-1234-5678です", "電話番号は[phone]です"),
    # A national number is read in the configured region's plan only.
    ("GB", "US office (415) 555-0132", "US office (415) 555-0132"),
    # Dates, IP addresses, amounts and coordinates that are valid numbers in these regions.
    ("DE", "am 03.07.2004 um 10:30", None),
    ("IT", "il 03-10-2017 alle 10:00", None),
    ("CN", "16-06-2022", None),
    ("IN", "ssh 113.5.245.183", None),
    ("ES", "cuesta 987.331.919,07 €", None),
    ("DE", "Koordinaten 9.680996, -168.410601", None),
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_masks(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_keeps(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(("region", "text", "expected"), REGIONAL)
def test_region(region: str, text: str, expected: str | None) -> None:
    assert redact(text, region) == (text if expected is None else expected)


@pytest.mark.parametrize(
    "text", ["7" * 32 * 1024, "4111 " * 6000, "\x00 +1 415 555 0132 \x00", "\ud800 a@b.co \udfff"]
)
def test_hostile_text(text: str) -> None:
    masked = redact(text)
    assert redact(masked) == masked


def test_hostile_text_masks_what_it_holds() -> None:
    assert redact("\x00+1 415 555 0132\ud800a@b.co") == "\x00[phone]\ud800[email]"


FRAGMENTS = [
    "(415) 555-0132", "+44 20 7946 0958", "4111 1111 1111 1111", "378282246310005",
    "jane.doe+x@mail.acme.io", "a@b.co", "2026-11-24", "24/11/2026", "10:30", "$1,299.00",
    "order #", "v2.10.3", "192.168.1.10", "https://x.com/", "😀", "مرحبا", "[phone]",
    "@", "+", "(", ")", ".", "-", " ", "\n", "0", "1", "415", "0132", "4111",
]  # fmt: skip
# Pieces of messages glued in any order, so that numbers and addresses touch each other.
pieces = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.text(max_size=4),
    st.from_regex(r"[0-9 ()+.-]{1,20}", fullmatch=True),
)
messages = st.lists(pieces, max_size=12).map("".join)
any_text = st.text(st.characters(exclude_categories=()))
regions = st.sampled_from(["US", "GB", "DE", "IN"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(messages, any_text), regions)
# One pass masks the second number only; the first is a number once the second is masked.
@example("+(415) 555-01320(415) 555-0132", "US")
def test_idempotent_and_never_raises(text: str, region: str) -> None:
    masked = redact(text, region)
    assert redact(masked, region) == masked


@given(st.text(st.characters(exclude_categories=["Nd"], exclude_characters="@")))
def test_no_digit_and_no_at_sign_is_kept(text: str) -> None:
    assert redact(text) == text


# --- REDACT_PII over HTTP --------------------------------------------------------------------

PII_MESSAGE = "Mail me at ana.lopez@example.com or call (415) 555-0132, card 4111 1111 1111 1111."
MASKED_MESSAGE = "Mail me at [email] or call [phone], card [card]."
LONG_FILLER = "Which plan suits a shop of our size? " * 20


@pytest.mark.anyio
@pytest.mark.parametrize("redact_pii", [True, False])
async def test_messages_are_masked_before_storage_when_asked(
    settings: Settings, database_url: str, redact_pii: bool
) -> None:
    settings = settings.model_copy(update={"redact_pii": redact_pii})
    async with client_for(settings) as client:
        single = event(event_id="one", message=PII_MESSAGE)
        batch = [
            event(event_id="two", message=PII_MESSAGE),
            event(event_id="three"),
            event(event_id="long", message=LONG_FILLER + PII_MESSAGE),  # masked off the loop
        ]
        assert (await client.post("/client/update", json=single)).status_code == 200
        assert (await client.post("/client/batch", json={"events": batch})).status_code == 200
    expected = MASKED_MESSAGE if redact_pii else PII_MESSAGE
    messages = {row["event_id"]: row["message"] for row in stored_events(database_url)}
    assert messages == {
        "one": expected,
        "two": expected,
        "three": event()["message"],
        "long": LONG_FILLER + expected,
    }
