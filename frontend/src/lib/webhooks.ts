// The event types createWebhookEndpoint accepts (services/webhook_events.py EVENT_TYPES; the API refuses
// any other with INVALID_EVENT_TYPE). The schema has no query for them, so the list lives here.
export const WEBHOOK_EVENT_TYPES: { type: string; sent: boolean }[] = [
  { type: "invoice.created", sent: true },
  { type: "invoice.finalized", sent: true },
  { type: "invoice.paid", sent: true },
  { type: "invoice.payment_failed", sent: false },
  { type: "invoice.payment_action_required", sent: false },
  { type: "invoice.voided", sent: true },
  { type: "invoice.uncollectible", sent: true },
  { type: "payment.succeeded", sent: false },
  { type: "payment.failed", sent: false },
  { type: "payment.refunded", sent: false },
  { type: "credit_note.created", sent: true },
  { type: "subscription.created", sent: true },
  { type: "subscription.updated", sent: true },
  { type: "subscription.terminated", sent: true },
  { type: "customer.created", sent: true },
  { type: "customer.updated", sent: true },
  { type: "customer.deleted", sent: true },
  { type: "customer.usage_alert_triggered", sent: true },
  { type: "usage.threshold_reached", sent: false },
  { type: "dunning.exhausted", sent: false },
];
