"""The Observer: the read-only investigation loop (built in issue 4)."""
