"""The worker's jobs, one module per area; workers/settings.py registers them."""
