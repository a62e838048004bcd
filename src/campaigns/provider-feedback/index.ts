/**
 * The providers' bounce and complaint webhooks (Postmark, SendGrid, Mailgun, SES through SNS):
 * `registerFeedbackRoutes(api, deps)` adds `POST /api/feedback/{provider}`, which authenticate
 * each request the provider's way, read it into `Feedback` and hand it to `deps.apply`.
 */
export { FEEDBACK_PROVIDERS, type FeedbackProvider } from './model.js';
export { type FeedbackAnswer, type FeedbackDeps, PROVIDER_VARIABLES } from './receiver.js';
export { registerFeedbackRoutes } from './routes.js';
