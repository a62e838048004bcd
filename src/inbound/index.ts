export type { InboundEmail } from '../core/inbound-email.js';
export type { FeedbackHandler, FeedbackOrigin } from './feedback.js';
export { OAuthTokens } from './imap.js';
export { type RouteDeps, type RouteJobPayload, routeQueue } from './jobs.js';
export { LEDGER_STATES, ROUTE_QUEUE } from './ledger.js';
export { registerInboundRoutes } from './routes.js';
export { Inbound, type InboundOptions } from './service.js';
