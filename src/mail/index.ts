export { CATCHER_MAX_BYTES, MailCatcher, SIGN_IN_MAIL_HEADER } from './catcher.js';
export { TransportChain } from './failover.js';
export { sendQueue } from './jobs.js';
export { type MessageInput, type MessageStatus, messageInputSchema, newMessageIdHeader } from './model.js';
export { registerCatcherRoutes, registerMessageRoutes } from './routes.js';
export {
  acceptMessage,
  type BulkMessage,
  type MailDeps,
  recordMessage,
  recordMessages,
  SEND_QUEUE,
  type SendJobResult,
} from './service.js';
export { type MailTransport, SmtpTransport, type SmtpTransportOptions } from './transport.js';
export { buildTransports, catcherTransport, openTransports } from './transports.js';
export { getMessage, listMessages, type MessageView } from './views.js';
