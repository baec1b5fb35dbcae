// String order by code unit (not locale), the one order of names and ids everywhere: the
// planner's decisions and every listing must come out the same on every machine.

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function byName(a: { name: string }, b: { name: string }): number {
  return compareStrings(a.name, b.name);
}
