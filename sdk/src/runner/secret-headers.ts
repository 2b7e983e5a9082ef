import { RunFailure } from './run-handler.js';

const TEMPLATE = /\{\{\s*secrets\.([A-Z][A-Z0-9_]{0,63})\s*\}\}/g;

/**
 * Headers with each `{{secrets.NAME}}` replaced by that secret's value from the claim. A name the
 * claim did not deliver (the agent does not reference it) fails the run: sending the template as
 * written would leak the configuration and fail at the other end, less clearly.
 */
export function withSecrets(headers: Record<string, string> | undefined, secrets: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).map(([name, value]) => [
      name,
      value.replace(TEMPLATE, (_, secret: string) => {
        if (!Object.hasOwn(secrets, secret))
          throw new RunFailure('secret_missing', `The header ${name} uses secret ${secret}, which the claim did not deliver: add it to the agent's secrets.`);
        return secrets[secret]!;
      }),
    ]),
  );
}
