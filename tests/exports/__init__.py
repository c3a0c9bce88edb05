"""Export tests."""
