"""Drives executions: the engine, one driver per execution, and the views it returns."""
