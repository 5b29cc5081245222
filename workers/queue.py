"""The arq queue every job is queued on (by the API, by other jobs, by the cron schedule)."""

QUEUE_NAME = "valueverse:queue"
