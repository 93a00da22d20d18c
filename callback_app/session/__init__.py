"""The browser's connected accounts: a cookie store or a Redis store behind one interface, and refresh."""
