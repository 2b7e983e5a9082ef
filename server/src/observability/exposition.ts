import { timingSafeEqual, createHash } from 'node:crypto';

/** The Prometheus text format, as prom-client writes it. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** `GET /metrics` on the API's port: served only for the bearer `token`; `render` writes the metrics (a cluster's, aggregated). */
export type MetricsExposition = { token: string | undefined; render: () => Promise<string> };

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Compared in constant time (digests of equal length), so the time taken says nothing of the token. */
export const tokenMatches = (presented: string, token: string) => timingSafeEqual(digest(presented), digest(token));
