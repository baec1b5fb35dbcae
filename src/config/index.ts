// The daemon configuration: fleet's keys in a TOML file, overridden by FLEET_* variables.
// The reference of every key is docs/configuration.md.
export type { Config, ListenAddress } from "./types.ts";
export { DEFAULTS, DEFAULT_CONFIG_FILE } from "./defaults.ts";
export { parseDuration } from "./duration.ts";
export { ConfigError, parseConfig, type Env } from "./parse.ts";
export { loadConfig, type LoadOptions, type Loaded } from "./load.ts";
export { formatListenAddress, parseListenAddress } from "./values.ts";
export { KEY_NAMES, envName } from "./keys.ts";
