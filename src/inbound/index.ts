export type { InboundEmail } from './email.js';
export { LEDGER_STATES, ROUTE_QUEUE } from './ledger.js';
export { registerInboundRoutes } from './routes.js';
export { Inbound, type InboundOptions } from './service.js';
