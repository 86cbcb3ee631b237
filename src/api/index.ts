// The checkout API: validates, derives the checkout id, records and enqueues,
// answers 202; health, metrics and dead-letter admin on a separate listener.
export { buildApp, buildCheckoutApp, type BuildAppOptions, type CheckoutApp } from './buildApp.ts';
export { buildAdminApp, type BuildAdminAppOptions } from './buildAdminApp.ts';
export { parseApiConfig, type ApiConfig } from './apiConfig.ts';
export { checkoutIdFor, CHECKOUT_ID_NAMESPACE } from './checkoutId.ts';
export { validateCheckoutRequest, requestHashOf, type CheckoutRequest } from './checkoutRequest.ts';
export { ApiMetrics } from './apiMetrics.ts';
