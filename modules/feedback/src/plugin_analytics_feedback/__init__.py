"""User feedback for plugin-analytics: thumbs up or down on the assistant's answers.

The chat widget sends one event when a visitor rates an answer, through any ingestion API:

    {"user_id": "...", "session_id": "...", "event_type": "feedback",
     "properties": {"rating": "up", "message_id": "<event_id of the rated answer>",
                    "comment": "optional words"}}

A visitor may change their mind: the last rating a user gave an answer counts, once.
"""

from plugin_analytics_feedback.module import FeedbackModule

__all__ = ["FeedbackModule"]
