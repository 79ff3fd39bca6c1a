"""gymchain: the intelligent gym-chain management platform (seed 002)."""

__version__ = "0.1.0"
