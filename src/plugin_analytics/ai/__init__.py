"""AI: model usage analytics, text-generation backends and the insights they write."""
