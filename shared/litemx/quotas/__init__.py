"""Per-recipient caps over UTC calendar days and months, reserved atomically."""
