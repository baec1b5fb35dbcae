export async function runDaemon(_args: string[]): Promise<number> {
  process.stderr.write("fleet daemon: not built yet\n");
  return 1;
}
