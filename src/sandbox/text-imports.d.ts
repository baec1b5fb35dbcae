// Unit files imported as text (`import x from "./a.service" with { type: "text" }`): Bun embeds
// them, so the compiled binary carries the exact files the project ships.
declare module "*.service" {
  const text: string;
  export default text;
}
declare module "*.socket" {
  const text: string;
  export default text;
}
