import type { Versioning } from '../../versions/versioning.js';
import { defineHandlers } from '../handler-types.js';

export const versionHandlers = (versioning: Versioning) =>
  defineHandlers({
    listApiVersions: async () => ({
      status: 200,
      body: {
        data: versioning.entries.map((entry) => ({
          object: 'api_version' as const,
          version: entry.version,
          ...versioning.life(entry.version),
          releasedAt: entry.releasedAt,
          changes: entry.changes.map(({ id, summary, affects }) => ({ id, summary, affects })),
        })),
      },
    }),
  });
