// The config's durations are Go's (src/lib/duration.ts, shared with the API and rollouts).
export { durationProblem, parseDuration } from "../lib/duration.ts";
