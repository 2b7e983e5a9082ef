import { createRequire } from 'node:module';

/** The release this server is: the package's own version, the same for every package of the repository. */
export const serverVersion = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
