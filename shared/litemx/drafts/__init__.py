"""Drafts an agent writes with a `draft` token and a person approves (docs/agents.md)."""
