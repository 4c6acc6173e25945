/**
 * Stripe's test payment methods offered in test mode under "Test card". The ids are Stripe's own (api.stripe.com
 * test mode); the localstripe emulator knows the first two (it declines card 0341 when charged), and the
 * 3-D Secure one needs payments_svc's emulator support (see the README's payment notes).
 */
export const TEST_CARDS = [
  { id: "pm_card_visa", label: "Visa 4242: succeeds" },
  { id: "pm_card_chargeCustomerFail", label: "Visa 0341: declined" },
  { id: "pm_card_authenticationRequired", label: "Visa 3155: needs 3-D Secure" },
] as const;
