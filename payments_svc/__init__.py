"""payments_svc: charges orders through Stripe PaymentIntents (at most once per order) and refunds cancelled ones."""
