import type { CallOptions } from './transport.js';

/** Per call: cancel with `signal`, override `timeout` and `maxRetries`. */
export type RequestOptions = CallOptions;
/** Writes that create something also take an Idempotency-Key; one is generated (and reused by retries) when you give none. */
export type WriteOptions = RequestOptions & { idempotencyKey?: string };
export type ConditionalOptions = RequestOptions & { ifMatch?: string };
export type RunCreateOptions = WriteOptions & { endUser?: string };

export const newIdempotencyKey = () => globalThis.crypto.randomUUID();

// The request headers these options stand for, as the generated resources send them.
export const idempotent = (o?: WriteOptions) => ({ 'Idempotency-Key': o?.idempotencyKey ?? newIdempotencyKey() });
export const ifMatch = (o?: ConditionalOptions) => (o?.ifMatch ? { 'If-Match': o.ifMatch } : undefined);
export const endUser = (o?: RunCreateOptions) => (o?.endUser ? { 'Switchboard-User': o.endUser } : undefined);
