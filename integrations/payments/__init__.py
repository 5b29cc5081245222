"""Payment providers behind one interface (`base.PaymentGateway`): Stripe and PayPal."""
