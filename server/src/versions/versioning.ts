import { ProblemError } from '../problems/problems.js';
import { createAjv } from '../spec/ajv.js';
import type { OpenApiDocument } from '../spec/load-spec.js';
import type { ApiVersionEntry, RunEventJson, VersionChange, VersionedResponse, WebhookPayload } from './change.js';

export type VersionStatus = 'current' | 'supported' | 'deprecated' | 'sunset';

/** A version's life: supported for a year after its successor is released, deprecated in the last half of it. */
export type VersionLife = { status: VersionStatus; deprecatedAt: string | null; sunsetAt: string | null };

const SUPPORTED_MONTHS = 12;
const DEPRECATED_MONTHS = 6;
const VERSION_SHAPE = /^\d{4}-\d{2}-\d{2}$/;

const monthsAfter = (iso: string, months: number) => {
  const date = new Date(iso);
  date.setUTCMonth(date.getUTCMonth() + months);
  return date.toISOString();
};

/** Whether `value` is a date written YYYY-MM-DD (2026-02-30 is not). */
export function isVersionName(value: string): boolean {
  if (!VERSION_SHAPE.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

export type Versioning = ReturnType<typeof createVersioning>;

/**
 * The versions of the API and what turns one into another. Handlers speak the newest; what comes
 * in older is lifted through each change after its version (oldest first), and what goes out is
 * lowered through them (newest first). A request in the newest version costs nothing.
 */
export function createVersioning(entries: readonly ApiVersionEntry[], newestDocument: OpenApiDocument, now: () => number) {
  const newest = entries.at(-1)!.version;
  if (newestDocument.info.version !== newest) {
    throw new Error(`The bundled OpenAPI document is version ${newestDocument.info.version}, the newest version registered is ${newest}.`);
  }
  const index = new Map(entries.map((entry, i) => [entry.version, i]));
  /** By version: the changes made since it, oldest first. */
  const since = new Map(entries.map((entry, i) => [entry.version, entries.slice(i + 1).flatMap((e) => e.changes)]));
  const newestFirst = new Map([...since].map(([version, changes]) => [version, [...changes].reverse()]));

  const ajv = createAjv({ forParameters: false });
  ajv.addSchema(newestDocument, 'versions', undefined, false);
  const checks = new Map<string, (value: unknown) => boolean>();
  const conforms = (schema: string, value: unknown) => {
    let check = checks.get(schema);
    if (!check) checks.set(schema, (check = ajv.compile({ $ref: `versions#/components/schemas/${schema}` }) as (value: unknown) => boolean));
    return check(value);
  };

  function life(version: string): VersionLife {
    const i = index.get(version)!;
    const successor = entries[i + 1];
    if (!successor) return { status: 'current', deprecatedAt: null, sunsetAt: null };
    const deprecatedAt = monthsAfter(successor.releasedAt, SUPPORTED_MONTHS - DEPRECATED_MONTHS);
    const sunsetAt = monthsAfter(successor.releasedAt, SUPPORTED_MONTHS);
    const at = now();
    const status = at >= Date.parse(sunsetAt) ? 'sunset' : at >= Date.parse(deprecatedAt) ? 'deprecated' : 'supported';
    return { status, deprecatedAt, sunsetAt };
  }

  const served = () => entries.map((e) => e.version).filter((v) => life(v).status !== 'sunset');

  /** A version named by a client (header, query, pin): 400 when malformed, unknown or sunset. */
  function check(value: string, where: string): string {
    if (!isVersionName(value)) throw new ProblemError('invalid-api-version', `${where} "${value}" is not a date in the form YYYY-MM-DD.`);
    if (!index.has(value) || life(value).status === 'sunset') {
      throw new ProblemError('unsupported-api-version', `No API version ${value} is served; the versions served are ${served().join(', ')}.`);
    }
    return value;
  }

  /** Passes `value` through each change's `step`, in order; a change without that step passes it on. */
  const through = <T>(changes: VersionChange[], step: (change: VersionChange) => ((value: T) => T) | undefined, value: T) =>
    changes.reduce((v, change) => step(change)?.(v) ?? v, value);

  const documents = new Map<string, OpenApiDocument>();

  return {
    newest,
    entries,
    life,
    check,
    isServed: (value: string) => index.has(value) && life(value).status !== 'sunset',
    served,
    /** Whether anything must be done for `version`: false for the newest. */
    isOlder: (version: string) => version !== newest,

    liftRequest(operationId: string, version: string, body: unknown): unknown {
      return through(
        since.get(version)!,
        (c) => {
          const up = c.requestUp?.[operationId];
          return up && ((b: unknown) => up(b, { conforms }));
        },
        body,
      );
    },

    lowerResponse(operationId: string, version: string, response: VersionedResponse): VersionedResponse {
      return through(newestFirst.get(version)!, (c) => c.responseDown?.[operationId], response);
    },

    /** Whether a version lowers streamed run events at all (else each is sent as it is, its frame shared). */
    lowersRunEvents: (version: string) => newestFirst.get(version)!.some((c) => c.runEventDown),

    lowerRunEvent(version: string, event: RunEventJson): RunEventJson {
      return through(newestFirst.get(version)!, (c) => c.runEventDown, event);
    },

    /** A webhook message's body in `version`: the stored text itself when no change touches payloads. */
    renderWebhook(version: string, payload: string): string {
      const changes = newestFirst.get(version)!.filter((c) => c.webhookDown);
      if (!changes.length) return payload;
      return JSON.stringify(through(changes, (c) => c.webhookDown, JSON.parse(payload) as WebhookPayload));
    },

    /**
     * The OpenAPI document as `version` sees it, made from the newest one as `load` reads it (with
     * its prose) by each change's `documentDown`; an older one is kept once made, as the newest
     * does not change while the server runs.
     */
    async documentAt(version: string, load: () => Promise<OpenApiDocument>): Promise<OpenApiDocument> {
      if (version === newest) return load();
      let document = documents.get(version);
      if (!document) {
        document = await load();
        for (const change of newestFirst.get(version)!) change.documentDown(document);
        document.info.version = version;
        documents.set(version, document);
      }
      return document;
    },

    /** The response headers of a deprecated version (RFC 9745, RFC 8594); none for the others. */
    deprecationHeaders(version: string): Record<string, string> {
      const { status, deprecatedAt, sunsetAt } = life(version);
      if (status !== 'deprecated') return {};
      return {
        Deprecation: `@${Math.floor(Date.parse(deprecatedAt!) / 1000)}`,
        Sunset: new Date(sunsetAt!).toUTCString(),
        Link: '</api/v1/versions>; rel="deprecation"; type="application/json"',
      };
    },
  };
}
