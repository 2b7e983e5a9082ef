import type { OpenApiDocument } from '../spec/load-spec.js';

/** A response as the pipeline sends it (see `Result` in http/pipeline/respond.ts). */
export type VersionedResponse = {
  status: number;
  body: unknown;
  headers?: Record<string, string | string[]>;
  contentType?: string;
  stream?: NodeJS.ReadableStream;
};

/** A run event as it is sent: in a list, or as the `data:` of a stream message. */
export type RunEventJson = { type: string; data: unknown } & Record<string, unknown>;

/** A webhook message's body. */
export type WebhookPayload = { id: string; type: string; createdAt: string; data: unknown };

/** What a lift may ask: whether a value fits a schema of the newest document (by name). */
export type LiftTools = { conforms: (schema: string, value: unknown) => boolean };

/**
 * One breaking change, made by the version that lists it: how a request made in the version
 * before it is lifted to it, and how what the server sends (a response, a run event, a webhook
 * payload, the OpenAPI document) is lowered back to the version before it. Each function handles
 * the shape of its own version: changes are chained, newest first going down, oldest first going
 * up, so a change never knows about the ones after it.
 */
export type VersionChange = {
  /** Stable identifier, listed by `GET /api/v1/versions`. */
  id: string;
  summary: string;
  /** The operations (operationId) and schemas (name) it touches. */
  affects: string[];
  /** By operationId: the body of a request made in the version before this change, as this change's version takes it. */
  requestUp?: Record<string, (body: unknown, tools: LiftTools) => unknown>;
  /** By operationId: a response of this change's version as the version before it sent it. */
  responseDown?: Record<string, (response: VersionedResponse) => VersionedResponse>;
  /** A streamed run event, as the version before this change sent it. */
  runEventDown?: (event: RunEventJson) => RunEventJson;
  /** A webhook payload, as the version before this change sent it. */
  webhookDown?: (payload: WebhookPayload) => WebhookPayload;
  /**
   * Operations this change removed (by operationId): `documentDown` puts them back, and the server
   * still routes them for the versions before this change, to the handlers of `retiredHandlers`
   * (404 in this version and later).
   */
  retires?: string[];
  /** Turns (a copy of) this change's version's OpenAPI document into the one before it. */
  documentDown: (document: OpenApiDocument) => void;
};

/** A dated version: the day it was released, and the changes it made to the one before it. */
export type ApiVersionEntry = { version: string; releasedAt: string; changes: VersionChange[] };
