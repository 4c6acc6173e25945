"""orders_svc: orders that lock a ticket until they are paid, cancelled or expire."""
