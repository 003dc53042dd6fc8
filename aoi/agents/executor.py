"""The scoped executor: runs approved, whitelisted actions (built in issue 4)."""
