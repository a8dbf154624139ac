"""Helpers shared by the test suites (servers on free loopback ports)."""
