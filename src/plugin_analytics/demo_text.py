"""What demo conversations say: short chat texts by topic, and the CTAs their answers lead to.

Templates take the session's slots ({plan}, {other}, {price}, {country}, {days}, {order},
{tool}); `str.format` ignores the slots a template does not use.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """What a conversation is about: the visitor's questions, the assistant's answers, and the
    CTA those answers offer."""

    questions: tuple[str, ...]
    answers: tuple[str, ...]
    cta_id: str


CTA_LABELS = {
    "pricing-page": "See pricing",
    "start-trial": "Start free trial",
    "book-demo": "Book a demo",
    "contact-sales": "Talk to sales",
    "track-order": "Track my order",
    "return-label": "Print return label",
}

TOPICS = (
    Topic(
        questions=(
            "How much does the {plan} plan cost?",
            "Is there a discount if I pay yearly?",
            "What's the difference between {plan} and {other}?",
            "Do you charge per seat or per workspace?",
            "Can I switch from {other} to {plan} later?",
        ),
        answers=(
            "The {plan} plan is ${price} a month; paying yearly saves 20%.",
            "{plan} adds reporting and priority support on top of {other}.",
            "Pricing is per workspace, with unlimited seats on {plan}.",
            "Yes, you can change plans at any time and we prorate the difference.",
        ),
        cta_id="pricing-page",
    ),
    Topic(
        questions=(
            "Do you ship to {country}?",
            "How long does delivery to {country} take?",
            "How much is shipping to {country}?",
            "Can I get express delivery?",
        ),
        answers=(
            "Yes, we ship to {country}; delivery usually takes {days} business days.",
            "Standard shipping to {country} is free on orders over $50.",
            "Express delivery arrives in 1-2 business days for a $12 fee.",
            "You'll get a tracking link by email as soon as the parcel leaves our warehouse.",
        ),
        cta_id="track-order",
    ),
    Topic(
        questions=(
            "Where is my order #{order}?",
            "My order #{order} hasn't arrived yet, what should I do?",
            "Can I change the delivery address for order #{order}?",
        ),
        answers=(
            "Order #{order} shipped yesterday and should arrive within {days} days.",
            "I can see order #{order} is with the carrier; the tracking page has live updates.",
            "The address can be changed until the order ships; #{order} is still being packed.",
        ),
        cta_id="track-order",
    ),
    Topic(
        questions=(
            "How do I return an item?",
            "What is your return policy?",
            "Can I exchange for a different size?",
            "When will I get my refund?",
        ),
        answers=(
            "You can return anything within 30 days; the label is free.",
            "Exchanges are free: start a return and choose the new size.",
            "Refunds reach your card within {days} business days of us receiving the item.",
        ),
        cta_id="return-label",
    ),
    Topic(
        questions=(
            "Does it integrate with {tool}?",
            "Is there an API?",
            "How long does setup take?",
            "Can you show me how it works for a team like ours?",
        ),
        answers=(
            "Yes, there's a native {tool} integration; setup takes about five minutes.",
            "We have a REST API and webhooks; the docs include examples in several languages.",
            "Most teams are up and running in a day. A demo is the quickest way to see it.",
        ),
        cta_id="book-demo",
    ),
    Topic(
        questions=(
            "Is there a free trial?",
            "Do I need a credit card to try it?",
            "What happens when the trial ends?",
        ),
        answers=(
            "Yes, a 14-day free trial of {plan}, no credit card needed.",
            "At the end of the trial you pick a plan, or your account pauses; nothing is lost.",
        ),
        cta_id="start-trial",
    ),
    Topic(
        questions=(
            "Do you offer volume pricing for large teams?",
            "Are you GDPR compliant?",
            "Can we sign a custom contract?",
        ),
        answers=(
            "Yes, teams above 50 seats get volume pricing; our sales team can quote it.",
            "We're GDPR compliant and host EU data in Frankfurt; a DPA is available.",
            "Custom contracts and invoicing are available on annual plans.",
        ),
        cta_id="contact-sales",
    ),
)

OPENERS = ("Hi!", "Hello!", "Hey there.", "Good morning!", "Quick question.", "")
FOLLOW_UPS = (
    "Thanks, that helps.",
    "Can you explain that in more detail?",
    "And is that the same for {country}?",
    "OK, what else should I know?",
    "Great, thank you!",
    "Hmm, I'm not sure I understand.",
)
ASSISTANT_FOLLOW_UPS = (
    "Happy to help! Is there anything else I can do for you?",
    "Of course. In short: it's quick, and you can change your mind at any time.",
    "Good question. It works the same everywhere we operate.",
    "Sure. I can also send you a link with all the details.",
)

PLANS = ("Starter", "Growth", "Business")
PRICES = ("19", "49", "99", "199")
COUNTRIES = ("Norway", "Germany", "Canada", "Japan", "Brazil", "India", "Australia", "Kenya")
TOOLS = ("Slack", "HubSpot", "Salesforce", "Shopify", "Zendesk", "Google Sheets")
