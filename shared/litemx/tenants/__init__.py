"""SES tenants: every LiteMX account is an SES tenant, so SES tracks reputation and pauses per account."""
