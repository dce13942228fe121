"""Adversarial security and privacy-by-default checks: scopes on every URL, credentials and
target secrets kept out of logs, rows and answers, production settings, personal data to targets."""
