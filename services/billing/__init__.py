"""Billing: turn ended periods (and in-advance fees) into invoices, once each.

A customer's subscriptions are billed at *billing dates*: the end of each period (fees in
arrears, usage, true-ups) which is also the start of the next (fees in advance), the very
first start (in-advance fee of the first period), and a termination. Every billing date of a
customer yields one invoice holding all its subscriptions' lines; `billing_key` (the date) is
unique per customer, so a second or concurrent run never makes another. Each customer is
billed in its own transaction under its advisory lock: one failing customer stops nobody else.

One module per operation:

- `due`: what each billing date bills (fees, usage, true-ups), computed, nothing written;
- `kinds`: what `issue_invoice` is asked to make, one value per kind of invoice;
- `issue`: compute, store (and finalize) an invoice; `deductions`: what it consumes and gives back;
- `finalize`: DRAFT → OPEN with its gapless number;
- `drafts`: refresh and finalize drafts (grace period), regenerate a voided invoice;
- `status`: void, uncollectible;
- `progressive`: interim invoices within a period (thresholds, pay-in-advance usage);
- `runs`: bill batches of customers, the run's audit entry.

Every status change goes through `services.invoice_state.move_invoice`.
"""
