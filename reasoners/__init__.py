"""Answering back-ends: each answers a batch of rendered chat prompts."""
