"""Shared support code for the harness's own tests."""
