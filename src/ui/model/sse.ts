// Server-Sent Events read from a byte stream (the dashboard reads the event stream with fetch(),
// which can carry the Authorization header that EventSource cannot). The parsing rules are the
// HTML standard's: lines end in LF, CR or CRLF; a blank line ends a message; `:` starts a comment;
// `data` lines join with LF; `id` sets the last event id; `retry` the reconnection delay.

export interface SseMessage {
  /** The last event id after this message (the message's own, or an earlier one). */
  lastEventId: string;
  data: string;
}

export class SseParser {
  private buffer = "";
  /** A CR ended the last chunk: a LF starting the next one belongs to it. */
  private pendingCr = false;
  private data: string[] = [];
  private hasData = false;
  lastEventId = "";
  retryMs: number | undefined;

  /** Feeds decoded text; returns the messages it completed. */
  push(text: string): SseMessage[] {
    if (this.pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const out: SseMessage[] = [];
    for (;;) {
      const end = this.buffer.search(/[\r\n]/);
      if (end < 0) break;
      const line = this.buffer.slice(0, end);
      let next = end + 1;
      if (this.buffer[end] === "\r") {
        if (next === this.buffer.length) this.pendingCr = true;
        else if (this.buffer[next] === "\n") next += 1;
      }
      this.buffer = this.buffer.slice(next);
      const message = this.line(line);
      if (message) out.push(message);
    }
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === "") {
      if (!this.hasData) return undefined;
      const message = { lastEventId: this.lastEventId, data: this.data.join("\n") };
      this.data = [];
      this.hasData = false;
      return message;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
    }
    return undefined;
  }
}
