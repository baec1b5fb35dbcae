// Machine ids are shown and matched by their first 8 characters, as fleetctl did.

export const SHORT_ID_LENGTH = 8;

export function shortId(machineId: string): string {
  return machineId.slice(0, SHORT_ID_LENGTH);
}
