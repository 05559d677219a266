"""The headless trainer, its stages and data, label-free adaptation."""
