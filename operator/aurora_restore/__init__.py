"""aurora-restore-operator: restore AWS Aurora PostgreSQL clusters from snapshots, declaratively."""

__version__ = "0.1.0"
