// systemd's object paths for units: /org/freedesktop/systemd1/unit/<escaped name>, where every
// byte other than an ASCII letter (or a digit after the first byte) becomes _xx in hex
// (sd-bus's bus_label_escape), e.g. web@1.service -> web_401_2eservice.

export const UNIT_PATH_PREFIX = "/org/freedesktop/systemd1/unit/";

const isAlpha = (b: number) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;

export function escapeBusLabel(label: string): string {
  if (label === "") return "_";
  const bytes = new TextEncoder().encode(label);
  let out = "";
  bytes.forEach((b, i) => {
    out += isAlpha(b) || (i > 0 && isDigit(b)) ? String.fromCharCode(b) : `_${b.toString(16).padStart(2, "0")}`;
  });
  return out;
}

/** The inverse of escapeBusLabel; undefined when the text is not a valid escaped label. */
export function unescapeBusLabel(escaped: string): string | undefined {
  if (escaped === "_") return "";
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; ) {
    const c = escaped.charCodeAt(i);
    if (c === 0x5f) {
      const hex = escaped.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else if (isAlpha(c) || isDigit(c)) {
      bytes.push(c);
      i += 1;
    } else {
      return undefined;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

export function unitObjectPath(name: string): string {
  return UNIT_PATH_PREFIX + escapeBusLabel(name);
}

/** The unit name of a unit object path, or undefined for any other path. */
export function unitNameFromPath(path: string): string | undefined {
  if (!path.startsWith(UNIT_PATH_PREFIX)) return undefined;
  const rest = path.slice(UNIT_PATH_PREFIX.length);
  if (rest === "" || rest.includes("/")) return undefined;
  return unescapeBusLabel(rest);
}
