/** JSON stored in a text column, the same on SQLite and PostgreSQL. */
export const toJsonColumn = (value: unknown) => JSON.stringify(value);
export const fromJsonColumn = <T>(text: string | null | undefined, fallback: T): T => (text ? (JSON.parse(text) as T) : fallback);
