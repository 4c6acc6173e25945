"""expiration_svc: one persistent timer per order in Redis; announces `expiration.complete` when it fires."""
