"""Second review of the security fixes: holes and regressions they left."""
