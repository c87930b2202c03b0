"""SES feedback: bounces, complaints and deliveries become suppression, message status and reputation."""
