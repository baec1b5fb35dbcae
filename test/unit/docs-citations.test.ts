// Every citation in the repository resolves inside it: section numbers name a heading of
// docs/compatibility.md or docs/architecture.md, quirk numbers a row of compatibility.md's
// catalogue, and the markdown links of the docs and the README a file (and heading) that exists.
// Nothing points at the design notes and reference the project started from, which a reader of
// the repository never has.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = join(import.meta.dir, "../..");
const ROOTS = ["src", "test", "docs", "bench", "contrib", "scripts", "examples"];
const TEXT = /\.(ts|md|sh|sample|service|socket|conf|toml)$/;

function textFiles(): string[] {
  const out = ["README.md"];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(root, dir))) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const rel = join(dir, name);
      if (statSync(join(root, rel)).isDirectory()) walk(rel);
      else if (TEXT.test(name)) out.push(rel);
    }
  };
  for (const dir of ROOTS) if (existsSync(join(root, dir))) walk(dir);
  return out;
}

const files = textFiles().map((path) => ({ path, text: readFileSync(join(root, path), "utf8") }));

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, "").replace(/ /g, "-");
}

interface Doc {
  /** Section number ("6.5.5") of every numbered heading. */
  sections: Set<string>;
  anchors: Set<string>;
}

function readDoc(path: string): Doc {
  const sections = new Set<string>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(join(root, path), "utf8").split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (!m) continue;
    anchors.add(slug(m[1]!));
    const num = /^(\d+(?:\.\d+)*)\.? /.exec(m[1]!);
    if (num) sections.add(num[1]!);
  }
  return { sections, anchors };
}

const DOCS: Record<string, Doc> = {
  "compatibility.md": readDoc("docs/compatibility.md"),
  "architecture.md": readDoc("docs/architecture.md"),
};

/** Each `§n.n` with the file it refers to: the nearest document named before it on its line. */
function sectionCitations(): { where: string; doc: string; section: string }[] {
  const out: { where: string; doc: string; section: string }[] = [];
  for (const { path, text } of files) {
    text.split("\n").forEach((line, i) => {
      for (const m of line.matchAll(/§(\d+(?:\.\d+)*)/g)) {
        const before = line.slice(0, m.index);
        const named = [...before.matchAll(/\b(compatibility|architecture)\.md\b/g)].at(-1)?.[0];
        // A bare number means compatibility.md (its own first paragraph says so).
        out.push({ where: `${path}:${i + 1}`, doc: named ?? "compatibility.md", section: m[1]! });
      }
    });
  }
  return out;
}

describe("citations resolve inside the repository", () => {
  test("nothing points at the outside design notes or reference", () => {
    // Built from parts so that this file does not match itself.
    const outside = new RegExp(["fleet-" + "reference", "shared/" + "docs", "(?<![\\w/.-])design\\." + "md"].join("|"));
    const hits = files.flatMap(({ path, text }) =>
      text.split("\n").flatMap((line, i) => (outside.test(line) ? [`${path}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(hits).toEqual([]);
  });

  test("every section cited names a heading of the document cited", () => {
    const cited = sectionCitations();
    expect(cited.length).toBeGreaterThan(50);
    const missing = cited.filter((c) => !DOCS[c.doc]!.sections.has(c.section)).map((c) => `${c.where}: ${c.doc} §${c.section}`);
    expect(missing).toEqual([]);
  });

  test("every quirk cited is in compatibility.md's catalogue, and each row says what we do", () => {
    const text = readFileSync(join(root, "docs/compatibility.md"), "utf8");
    const catalogue = text.slice(text.indexOf("## 12. Quirk catalogue"), text.indexOf("## 13."));
    const rows = new Map<string, string[]>();
    for (const m of catalogue.matchAll(/^\| (Q\d+) \|(.*)\|\s*$/gm)) rows.set(m[1]!, m[2]!.split("|").map((c) => c.trim()));
    expect(rows.size).toBeGreaterThan(20);
    for (const [quirk, cells] of rows) expect({ quirk, cells: cells.filter((c) => c !== "").length }).toEqual({ quirk, cells: 2 });
    const unknown = files.flatMap(({ path, text: t }) =>
      [...t.matchAll(/\bQ\d+\b/g)].filter((m) => !rows.has(m[0])).map((m) => `${path}: ${m[0]}`),
    );
    expect(unknown).toEqual([]);
  });

  test("the markdown links of the docs and the README reach a file and a heading that exist", () => {
    const broken: string[] = [];
    for (const { path, text } of files.filter((f) => f.path.endsWith(".md") && !f.path.startsWith("bench/results/"))) {
      let fenced = false;
      text.split("\n").forEach((line, i) => {
        if (line.startsWith("```")) fenced = !fenced;
        if (fenced) return;
        for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
          const target = m[1]!;
          if (/^[a-z]+:/.test(target)) continue;
          const [file, anchor] = target.split("#") as [string, string | undefined];
          const resolved = file === "" ? path : relative(root, join(root, dirname(path), file));
          if (!existsSync(join(root, resolved))) {
            broken.push(`${path}:${i + 1}: ${target} (no such file)`);
          } else if (anchor !== undefined && resolved.endsWith(".md") && !readDoc(resolved).anchors.has(anchor)) {
            broken.push(`${path}:${i + 1}: ${target} (no such heading)`);
          }
        }
      });
    }
    expect(broken).toEqual([]);
  });
});
