"""LiteMX domain package shared by every Lambda: directory, plans, policy, quotas, suppression, audit."""
