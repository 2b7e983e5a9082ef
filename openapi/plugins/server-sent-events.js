// A text/event-stream example written as its messages, so that each event's JSON can come from a
// fixture: `{ x-server-sent-events: [{ id, event, data }] }` becomes the stream's text, one `data:`
// line per message holding `data` as compact JSON.
export const SERVER_SENT_EVENTS_KEY = 'x-server-sent-events';

export function isServerSentEvents(value) {
  return value !== null && typeof value === 'object' && SERVER_SENT_EVENTS_KEY in value;
}

export function serverSentEventsText(messages) {
  return messages
    .map(({ id, event, data }) => {
      const lines = [];
      if (id !== undefined) lines.push(`id: ${id}`);
      if (event !== undefined) lines.push(`event: ${event}`);
      lines.push(`data: ${JSON.stringify(data)}`);
      return `${lines.join('\n')}\n\n`;
    })
    .join('');
}
