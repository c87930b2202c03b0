"""The sending-policy decision: every send passes through `decide`."""
