export { ALERT_TYPES } from './alerts.js';
export type { Endpoint } from './endpoints.js';
export { DELIVERY_QUEUE } from './events.js';
export { deliveryQueue } from './jobs.js';
export { registerWebhookRoutes } from './routes.js';
export { type WebhookOptions, Webhooks } from './service.js';
export { type DeliverySummary, deliveriesOfEvents, eventOfDelivery } from './store.js';
