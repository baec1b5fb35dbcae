// The dashboard's files, inlined when the program is built (assets-macro.ts). The API imports this
// module lazily, on the first request under /ui/, so nothing else pays for it.
import { uiFiles } from "./assets-macro.ts" with { type: "macro" };

export const UI_FILES = uiFiles();
