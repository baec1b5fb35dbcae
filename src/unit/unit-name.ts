// Unit names: validation (compatibility.md §1.1, tightened to systemd's unit_name_is_valid),
// decomposition into prefix, template and instance (§1.2), and how fleetctl turns a command-line
// argument into a unit name (§1.3). The API, fleetctl, the registry's decoders, the engine and
// the agent all use validateUnitName: a name one of them accepts, all of them accept.
import { goQuote, goQuoteRune } from "./go-text.ts";

/**
 * Every unit type fleetctl recognises in an argument, in the order compatibility.md §1.1 lists
 * them. `busname` and `snapshot` stay recognised (so `x.busname` is not mangled into
 * `x.busname.service`) but are refused: see REMOVED_UNIT_TYPES.
 */
export const UNIT_TYPES: readonly string[] = [
  "automount", "busname", "device", "mount", "path", "scope", "service", "slice", "snapshot",
  "socket", "swap", "target", "timer",
];

/** Types systemd no longer has (snapshot since v228, busname since v231): no agent can run them. */
export const REMOVED_UNIT_TYPES: readonly string[] = ["busname", "snapshot"];

/** The unit types that may be templates (`foo@.timer`), as systemd's unit_type_may_template. */
export const TEMPLATE_UNIT_TYPES: readonly string[] = ["path", "service", "socket", "target", "timer"];

/** systemd's UNIT_NAME_MAX is 256 with the terminating NUL: 255 characters at most. */
export const UNIT_NAME_MAX = 255;

const ALLOWED_CHARS = /^[0-9a-zA-Z:\-_.\\@]$/;
const ALL_ALLOWED = /^[0-9a-zA-Z:\-_.\\@]*$/;
const utf8 = new TextEncoder();

/**
 * Checks a unit name, returning the first problem, or undefined when the name is valid. The
 * checks the original made come first, in its order and with its messages; then systemd's own
 * rules the original left out (one "@" at most, a non-empty prefix, no removed unit type), and
 * a leading "-", which systemctl, journalctl and ssh would read as an option.
 */
export function validateUnitName(name: string): string | undefined {
  if (name.length === 0) return "unit name cannot be empty";
  // Go measures the length in bytes (a name of ASCII only needs no encoding to tell).
  if (name.length > UNIT_NAME_MAX || (name.length * 3 > UNIT_NAME_MAX && utf8.encode(name).length > UNIT_NAME_MAX)) {
    return `unit name exceeds maximum length (${UNIT_NAME_MAX})`;
  }
  const dot = name.lastIndexOf(".");
  if (dot === -1) return 'unit name must contain "."';
  if (dot === name.length - 1) return 'unit name cannot end in "."';
  const suffix = name.slice(dot + 1);
  if (!UNIT_TYPES.includes(suffix)) return `invalid unit type: ${goQuote(suffix)}`;
  if (REMOVED_UNIT_TYPES.includes(suffix)) {
    return `unit type ${goQuote(suffix)} of ${goQuote(name)} is not supported: systemd no longer has it`;
  }
  if (name.includes("@") && !TEMPLATE_UNIT_TYPES.includes(suffix)) {
    return `invalid unit type for template: ${goQuote(suffix)}`;
  }
  const prefix = name.slice(0, dot);
  if (!ALL_ALLOWED.test(prefix)) {
    for (const ch of prefix) {
      if (!ALLOWED_CHARS.test(ch)) return `invalid character ${goQuoteRune(ch)} in unit name`;
    }
  }
  if (name.startsWith("@")) return 'unit name cannot start in "@"';
  if (dot === 0) return `unit name ${goQuote(name)} has nothing before the unit type`;
  if (name.indexOf("@") !== name.lastIndexOf("@")) return `unit name ${goQuote(name)} has more than one "@"`;
  if (name.startsWith("-")) return `unit name ${goQuote(name)} cannot start with "-": programs would read it as an option`;
  return undefined;
}

/** True when `name` is a unit name every part of fleet accepts. */
export function isValidUnitName(name: string): boolean {
  return validateUnitName(name) === undefined;
}

/** A unit name that failed validation; `reason` is the original's message. */
export class UnitNameError extends Error {
  override readonly name = "UnitNameError";
  constructor(
    readonly unitName: string,
    readonly reason: string,
  ) {
    super(`Invalid unit name ${goQuote(unitName)}: ${reason}`);
  }
}

export function assertValidUnitName(name: string): void {
  const reason = validateUnitName(name);
  if (reason !== undefined) throw new UnitNameError(name, reason);
}

/** What a unit name says about itself (`unit.NewUnitNameInfo`). */
export interface UnitNameInfo {
  /** The complete name, e.g. `foo@bar.service`. */
  fullName: string;
  /** Everything before the last `.`, e.g. `foo@bar`. */
  name: string;
  /** The name before the first `@` (the whole `name` when there is no `@`), e.g. `foo`. */
  prefix: string;
  /** The last `.` and what follows, e.g. `.service`. */
  suffix: string;
  /** The template this name belongs to, e.g. `foo@.service`; "" without an `@`. */
  template: string;
  /** Everything after the first `@`, e.g. `bar`; "" for templates and plain units. */
  instance: string;
  isInstance: boolean;
  isTemplate: boolean;
}

/** Decomposes a unit name; undefined when it has no `.` and so is not a unit name at all. */
export function unitNameInfo(fullName: string): UnitNameInfo | undefined {
  const dot = fullName.lastIndexOf(".");
  if (dot === -1) return undefined;
  const name = fullName.slice(0, dot);
  const suffix = fullName.slice(dot);
  const at = name.indexOf("@");
  if (at === -1) {
    return {
      fullName, name, prefix: name, suffix, template: "", instance: "",
      isInstance: false, isTemplate: false,
    };
  }
  const prefix = name.slice(0, at);
  const instance = name.slice(at + 1);
  return {
    fullName, name, prefix, suffix, template: `${prefix}@${suffix}`, instance,
    isInstance: instance !== "",
    isTemplate: instance === "",
  };
}

/**
 * True when the name ends in `.<type>` for any type of §1.1. The original recognised only
 * service, socket, timer, path, device, mount and automount (quirk Q11), so `x.target` became
 * `x.target.service`; every API-valid type is recognised here.
 */
export function isRecognizedUnitType(name: string): boolean {
  return UNIT_TYPES.some((type) => name.endsWith(`.${type}`));
}

/** Go's path.Base: the last slash-separated element, ignoring trailing slashes. */
export function pathBase(path: string): string {
  if (path === "") return ".";
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Appends `.service` unless the argument already ends in a recognised unit type. */
export function appendDefaultUnitType(arg: string): string {
  return isRecognizedUnitType(arg) ? arg : `${arg}.service`;
}

/** fleetctl's `unitNameMangle`: `foo` → `foo.service`, `dir/bar.socket` → `bar.socket`. */
export function mangleUnitName(arg: string): string {
  return appendDefaultUnitType(pathBase(arg));
}
