"""Outbound providers behind one interface: SES (SESv2 raw send) and an approved SMTP relay."""
