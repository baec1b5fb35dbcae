import pkg from "../package.json" with { type: "json" };

/** The fleet version, reported by `fleet version`, the API's Server header and machine records. */
export const VERSION: string = pkg.version;
