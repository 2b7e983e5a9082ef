export const SERVER_SENT_EVENTS_KEY: 'x-server-sent-events';
export function isServerSentEvents(value: unknown): boolean;
export function serverSentEventsText(messages: { id?: string | number; event?: string; data: unknown }[]): string;
