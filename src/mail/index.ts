export { CATCHER_MAX_BYTES, MailCatcher } from './catcher.js';
export { sendQueue } from './jobs.js';
export { type MessageInput, type MessageStatus, messageInputSchema } from './model.js';
export { registerCatcherRoutes, registerMessageRoutes } from './routes.js';
export {
  acceptMessage,
  getMessage,
  listMessages,
  type MailDeps,
  type MessageView,
  recordMessage,
  SEND_QUEUE,
} from './service.js';
export { SmtpTransport, type SmtpTransportOptions } from './transport.js';
