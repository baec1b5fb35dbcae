// A child's first line from its stdout: a pipe may hand it over in pieces, so read up to the
// newline (or the end of the stream).
export async function readLine(reader: { read(): Promise<{ value?: Uint8Array; done: boolean }> }): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text;
}
