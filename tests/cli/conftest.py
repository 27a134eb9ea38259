"""CLI tests use the top-level `home` fixture (a state folder per test, services stopped)."""
