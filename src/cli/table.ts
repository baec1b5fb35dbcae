// An elastic-tabstop writer with the behaviour of Go's text/tabwriter for the settings fleetctl
// used (compatibility.md §6.4): cells end at '\t', lines at '\n'; the cells of one column
// across a run of consecutive lines ("column block") share a width; the last cell of a line is
// never padded; a line with no tab ends every open block. Pure.

export interface TabwriterOptions {
  minwidth: number;
  tabwidth: number;
  padding: number;
  /** '\t' pads with tabs (rounding cell widths up to tabwidth), anything else with that char. */
  padchar: string;
}

/** fleetctl's tables: minwidth 0, tabwidth 8, padding 1, padchar '\t'. */
export const FLEETCTL_TABLE: TabwriterOptions = { minwidth: 0, tabwidth: 8, padding: 1, padchar: "\t" };

interface Cell {
  text: string;
  width: number;
}

/** Formats text containing tab-separated cells. Output ends with '\n' iff the input did. */
export function tabwrite(text: string, opts: TabwriterOptions = FLEETCTL_TABLE): string {
  if (text === "") return "";
  const endsWithNewline = text.endsWith("\n");
  const rawLines = (endsWithNewline ? text.slice(0, -1) : text).split("\n");
  let out = "";
  // A line with a single cell flushes: what came before is formatted on its own.
  let batch: Cell[][] = [];
  const flush = () => {
    out += formatBatch(batch, opts);
    batch = [];
  };
  rawLines.forEach((line, idx) => {
    const cells = line.split("\t").map((t) => ({ text: t, width: [...t].length }));
    batch.push(cells);
    const last = idx === rawLines.length - 1;
    if (cells.length === 1 || last) flush();
  });
  return endsWithNewline ? out : out.slice(0, -1);
}

function formatBatch(lines: Cell[][], opts: TabwriterOptions): string {
  let out = "";
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!;
      line.forEach((cell, j) => {
        out += cell.text;
        if (j < widths.length) out += padding(cell.width, widths[j]!, opts);
      });
      out += "\n";
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur]!.length - 1) continue;
      // A cell in this column starts a block here: print the lines before it as they are.
      writeLines(line0, cur);
      line0 = cur;
      let width = opts.minwidth;
      for (; cur < line1; cur++) {
        const line = lines[cur]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + opts.padding);
      }
      widths.push(width);
      format(line0, cur);
      widths.pop();
      line0 = cur;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out;
}

function padding(textWidth: number, cellWidth: number, opts: TabwriterOptions): string {
  if (opts.padchar === "\t") {
    if (opts.tabwidth === 0) return "";
    const cw = Math.ceil(cellWidth / opts.tabwidth) * opts.tabwidth;
    return "\t".repeat(Math.ceil((cw - textWidth) / opts.tabwidth));
  }
  return opts.padchar.repeat(Math.max(0, cellWidth - textWidth));
}

/** Rows of cells -> fleetctl's table text (header first unless it is undefined). */
export function renderTable(header: string[] | undefined, rows: string[][], opts: TabwriterOptions = FLEETCTL_TABLE): string {
  const lines = header ? [header, ...rows] : rows;
  if (lines.length === 0) return "";
  return tabwrite(lines.map((cells) => `${cells.join("\t")}\n`).join(""), opts);
}
