// The event types createWebhookEndpoint accepts (services/webhook_events.py EVENT_TYPES; the API refuses
// any other with INVALID_EVENT_TYPE). The schema has no query for them, so the list lives here, and
// tests/test_webhook_event_types.py keeps it equal to the API's.
export const WEBHOOK_EVENT_TYPES: string[] = [
  "invoice.created",
  "invoice.finalized",
  "invoice.paid",
  "invoice.payment_failed",
  "invoice.payment_action_required",
  "invoice.voided",
  "invoice.uncollectible",
  "payment.succeeded",
  "payment.failed",
  "payment.refunded",
  "credit_note.created",
  "subscription.created",
  "subscription.updated",
  "subscription.terminated",
  "customer.created",
  "customer.updated",
  "customer.deleted",
  "customer.usage_alert_triggered",
  "usage.threshold_reached",
  "dunning.exhausted",
];
