"""Logins: starting one, and finishing it at the callback (checks in their order, then the exchange)."""
