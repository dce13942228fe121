"""Adversarial fuzzing of the xAPI HTTP API: bad input gets a clear 4xx and nothing is stored."""
