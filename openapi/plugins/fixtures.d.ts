export const FIXTURE_KEY: 'x-fixture';
export class FixtureError extends Error {}
export function loadFixtures(dir: string): Map<string, unknown>;
export function expandFixtures(value: unknown, fixtures: Map<string, unknown>, via?: string[]): unknown;
