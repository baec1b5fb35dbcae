export async function runCtl(_args: string[]): Promise<number> {
  process.stderr.write("fleet ctl: not built yet\n");
  return 1;
}
