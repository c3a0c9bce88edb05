"""Sites: the websites one installation collects for, each with its own data and viewers."""
