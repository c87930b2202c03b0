"""The outbound pipeline's domain: accept a send (policy, MIME, store, queue) and deliver it."""
