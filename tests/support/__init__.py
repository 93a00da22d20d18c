"""Helpers shared by the test suites: real servers, a fake clock, and a user that clicks through."""
