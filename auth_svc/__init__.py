"""auth_svc: accounts (email + password) and signed session tokens."""
