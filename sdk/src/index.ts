export {
  Switchboard,
  type SwitchboardOptions,
  type RequestOptions,
  type WriteOptions,
  type ConditionalOptions,
  type RunCreateOptions,
  type StreamOptions,
  type ResponseInfo,
  type WithResponse,
} from './client.js';
export { APIPromise, type DataAndResponse } from './api-promise.js';
export * from './errors.js';
export { PageList, type Page, type Pagination } from './pagination.js';
export { isTerminalEvent, isTerminalStatus } from './stream.js';
export type { RunEvent, RunEventPage } from './events.js';
export { verifyWebhook, WebhookVerificationError } from './webhooks.js';
export type * from './generated/types.gen.js';
