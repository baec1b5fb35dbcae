// Server-Sent Events read from a response body, frame by frame, as EventSource parses them (the
// fields fleet's stream sends: id, data, retry, and comments). A body that sends nothing, not
// even a heartbeat comment, for `idleMs` is broken: reading it fails.

export interface SseFrame {
  id?: string;
  /** The data lines joined with newlines; undefined when the frame had none (a comment). */
  data?: string;
  comment?: string;
  retry?: number;
}

/** Thrown when the body stayed silent for longer than the stream's heartbeats allow. */
export class SseIdleError extends Error {
  override readonly name = "SseIdleError";
}

export async function* sseFrames(body: ReadableStream<Uint8Array>, idleMs: number): AsyncGenerator<SseFrame> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = parseFrame(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (frame) yield frame;
      }
      const chunk = await readWithin(reader, idleMs);
      if (chunk.done) return;
      // Lines may end in CRLF (a proxy's doing); a CR split from its LF is joined by the next chunk.
      buffer = (buffer + decoder.decode(chunk.value, { stream: true })).replace(/\r\n/g, "\n");
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** One frame's fields; undefined for a block with none (blank lines). */
export function parseFrame(block: string): SseFrame | undefined {
  const f: SseFrame = {};
  const data: string[] = [];
  let any = false;
  for (const line of block.split("\n")) {
    if (line === "") continue;
    any = true;
    if (line.startsWith(":")) {
      f.comment = line.slice(1).trim();
      continue;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "id") f.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) f.retry = Number(value);
    // Other fields (event:) are not sent by fleet and are ignored, as EventSource ignores unknown ones.
  }
  if (data.length > 0) f.data = data.join("\n");
  return any ? f : undefined;
}

/** What sseFrames needs of a stream reader (the DOM's and node's reader types differ in Bun). */
interface ChunkReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
}

async function readWithin(reader: ChunkReader, ms: number): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SseIdleError(`the event stream sent nothing for ${Math.round(ms / 1000)}s (not even a heartbeat)`)), ms);
  });
  try {
    return (await Promise.race([reader.read(), idle])) as { done: true } | { done: false; value: Uint8Array };
  } finally {
    clearTimeout(timer);
  }
}
