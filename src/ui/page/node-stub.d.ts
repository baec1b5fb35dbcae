// The page type-checks shared modules that import node:crypto for code the page never runs; the
// bundle replaces it with a stub (src/ui/build-page.ts), and this declares that stub's shape.
declare module "node:crypto" {
  export function createHash(algorithm: string): { update(text: string, encoding?: string): { digest(encoding: string): string } };
}
