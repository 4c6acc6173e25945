"""tickets_svc: tickets for sale, their status (available, reserved, sold) and versions."""
