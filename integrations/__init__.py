"""The outside world behind small interfaces: live pub/sub now; payment providers, email and webhooks later."""
