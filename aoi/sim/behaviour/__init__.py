"""How the simulated programs behave: what a container runs, whom it can reach, what it can do."""
