// Server-Sent Events as a console reads them from GET /api/events: text in, whole events out.
// Frames end with a blank line; `event:` names the type (default `message`), `data:` lines are
// joined with newlines; comment lines (`: ping`) and unknown fields are skipped. The server's data
// is JSON: a frame whose data does not parse is dropped rather than ending the watch.

export type ServerEvent = { type: string; data: unknown };

export class EventStreamParser {
  #buffer = '';

  /** Takes the next piece of text; answers the events it completed. */
  push(text: string): ServerEvent[] {
    this.#buffer += text.replace(/\r\n?/g, '\n');
    const events: ServerEvent[] = [];
    for (let end = this.#buffer.indexOf('\n\n'); end >= 0; end = this.#buffer.indexOf('\n\n')) {
      const frame = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const event = parseFrame(frame);
      if (event) events.push(event);
    }
    return events;
  }
}

function parseFrame(frame: string): ServerEvent | undefined {
  let type = 'message';
  const data: string[] = [];
  for (const line of frame.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return undefined;
  try {
    return { type, data: JSON.parse(data.join('\n')) };
  } catch {
    return undefined;
  }
}
