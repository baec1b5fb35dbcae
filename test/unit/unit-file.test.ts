import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  LINE_MAX,
  MAX_UNIT_FILE_BYTES,
  MAX_UNIT_OPTIONS,
  UnitFileError,
  UnitFileLimitError,
  hasInstallSection,
  loadUnitFile,
  parseUnitFile,
  serializeUnitFile,
  shortUnitHash,
  unitDescription,
  unitFileFromOptions,
  unitHash,
} from "../../src/unit/unit-file.ts";
import type { UnitOption } from "../../src/unit/types.ts";

const opt = (section: string, name: string, value: string): UnitOption => ({ section, name, value });

function parseError(text: string, name?: string): UnitFileError {
  try {
    parseUnitFile(text, name);
  } catch (err) {
    if (err instanceof UnitFileError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(text.slice(0, 60))} not to parse`);
}

describe("parseUnitFile", () => {
  test("an empty file, or one with only comments, has no options", () => {
    expect(parseUnitFile("")).toEqual([]);
    expect(parseUnitFile("# nothing here\n; nor here\n")).toEqual([]);
    expect(parseUnitFile("[Unit]\n")).toEqual([]);
  });

  test("text before the first section is skipped", () => {
    expect(parseUnitFile("This=Ignored\nnonsense upon stilts\n[Unit]\nDescription=x\n")).toEqual([
      opt("Unit", "Description", "x"),
    ]);
  });

  test("a comment before the first section follows backslash continuations", () => {
    const text = "# a comment \\\n[Swallowed]\n[Unit]\nA=b\n";
    expect(parseUnitFile(text)).toEqual([opt("Unit", "A", "b")]);
  });

  test("comments inside a section, with # and ;, and their continuations", () => {
    const text = [
      "[Service]",
      "# ExecStart=/bin/false",
      "; Type=forking \\",
      "Continued=still a comment",
      "#one trailing space is dropped before the continuation check \\ ",
      "AlsoComment=yes",
      "#two trailing spaces end the comment \\  ",
      "ExecStart=/bin/true",
    ].join("\n");
    expect(parseUnitFile(text)).toEqual([opt("Service", "ExecStart", "/bin/true")]);
  });

  test("names and values are trimmed; a value is the rest of its line", () => {
    const text = "[Service]\n  ExecStart  =  /bin/echo a = b  \n\tType=\tsimple\t\n";
    expect(parseUnitFile(text)).toEqual([
      opt("Service", "ExecStart", "/bin/echo a = b"),
      opt("Service", "Type", "simple"),
    ]);
  });

  test("an empty value is kept", () => {
    expect(parseUnitFile("[Service]\nA=\nB=c\n")).toEqual([
      opt("Service", "A", ""),
      opt("Service", "B", "c"),
    ]);
  });

  test("repeated options are all kept, in order", () => {
    expect(parseUnitFile("[Service]\nExecStop=/a\nExecStart=/b\nExecStop=/c\n")).toEqual([
      opt("Service", "ExecStop", "/a"),
      opt("Service", "ExecStart", "/b"),
      opt("Service", "ExecStop", "/c"),
    ]);
  });

  test("section names are case-sensitive and verbatim", () => {
    expect(parseUnitFile("[ unit ]\nA=1\n[UNIT]\nB=2\n")).toEqual([
      opt(" unit ", "A", "1"),
      opt("UNIT", "B", "2"),
    ]);
  });

  test("<<<<<<<<<<<=bar is an option named <<<<<<<<<<<", () => {
    expect(parseUnitFile("[Unit]\n<<<<<<<<<<<=bar\n")).toEqual([
      opt("Unit", "<<<<<<<<<<<", "bar"),
    ]);
  });

  test("a continuation keeps its backslash and a newline", () => {
    const text = '[Service]\nExecStart=echo \\\n  "pi\\\n  ng"\n';
    expect(parseUnitFile(text)).toEqual([
      opt("Service", "ExecStart", 'echo \\\n  "pi\\\n  ng"'),
    ]);
  });

  test("a continuation line is taken verbatim even when it starts with #", () => {
    expect(parseUnitFile("[Service]\nA=x \\\n# not a comment\nB=y\n")).toEqual([
      opt("Service", "A", "x \\\n# not a comment"),
      opt("Service", "B", "y"),
    ]);
  });

  test("a blank line ends a value, which then keeps one trailing newline", () => {
    expect(parseUnitFile("[Service]\nA=foo \\\n   \nB=bar\n")).toEqual([
      opt("Service", "A", "foo \\\n"),
      opt("Service", "B", "bar"),
    ]);
  });

  test("a continuation at the end of the input adds no newline", () => {
    expect(parseUnitFile("[Service]\nA=foo\\")).toEqual([opt("Service", "A", "foo\\")]);
    expect(parseUnitFile("[Service]\nA=foo\\\n")).toEqual([opt("Service", "A", "foo\\\n")]);
  });

  test("a backslash that is not the last character does not continue", () => {
    expect(parseUnitFile("[Service]\nA=foo\\ \nB=bar\n")).toEqual([
      opt("Service", "A", "foo\\"),
      opt("Service", "B", "bar"),
    ]);
  });

  test("CRLF: the trailing \\r goes with the trim, but \\ + CRLF does not continue", () => {
    expect(parseUnitFile("[Unit]\r\nDescription=foo\r\n\r\n[Service]\r\nA=x \\\r\nB=y\r\n")).toEqual([
      opt("Unit", "Description", "foo"),
      opt("Service", "A", "x \\"),
      opt("Service", "B", "y"),
    ]);
    // At the very end of the input a lone \r is dropped before the continuation check.
    expect(parseUnitFile("[Service]\nA=x\\\r")).toEqual([opt("Service", "A", "x\\")]);
  });

  test("whitespace is Go's: NBSP and NEL are trimmed, a BOM is not", () => {
    expect(parseUnitFile("[Unit]\nA=\u00a0x\u0085\nB=\ufeffy\n")).toEqual([
      opt("Unit", "A", "x"),
      opt("Unit", "B", "\ufeffy"),
    ]);
  });

  test("non-ASCII text survives", () => {
    expect(parseUnitFile("[Unit]\nDescription=Grüße ☃ 𝄞\n")).toEqual([
      opt("Unit", "Description", "Grüße ☃ 𝄞"),
    ]);
  });

  test("an option line without = is an error", () => {
    const err = parseError("[Unit]\nDescription=x\nnonsense upon stilts\nA=b\n", "hello.service");
    expect(err.reason).toBe("unexpected newline encountered while parsing option name");
    expect(err.line).toBe(3);
    expect(err.message).toBe(
      "Cannot parse unit file hello.service: line 3: unexpected newline encountered while parsing option name",
    );
    expect(parseError("[Unit]\r\nfoo\r\n").reason).toBe(
      "unexpected newline encountered while parsing option name",
    );
  });

  test("an option name running into the end of the input is an error", () => {
    const err = parseError("[Unit]\nDescription");
    expect(err.reason).toBe("unexpected end of file while parsing option name");
    expect(err.line).toBe(2);
    expect(err.message).toBe(
      "Cannot parse unit file: line 2: unexpected end of file while parsing option name",
    );
  });

  test("an unterminated section header is an error", () => {
    const err = parseError("[Unit]\nA=b\n[Service\nExecStart=/bin/true\n");
    expect(err.reason).toBe("unable to find end of section");
    expect(err.line).toBe(3);
    expect(parseError("[Unit").line).toBe(1);
  });

  test("text after a section header is an error", () => {
    const err = parseError("[Unit]\nA=b\n[Service] garbage here \nB=c\n", "x.service");
    expect(err.reason).toBe('found garbage after section name Service: "garbage here"');
    expect(err.line).toBe(3);
    expect(parseUnitFile("[Service] \t\nB=c\n")).toEqual([opt("Service", "B", "c")]);
  });

  describe("line length guard", () => {
    const line = (bytes: number) => `Description=${"x".repeat(bytes - "Description=".length)}`;

    test(`a ${LINE_MAX}-byte line is refused, a ${LINE_MAX - 1}-byte one is not`, () => {
      const err = parseError(`[Unit]\n${line(LINE_MAX)}\nA=b\n`);
      expect(err.reason).toBe("line too long (max 2048 bytes)");
      expect(err.line).toBe(2);
      const ok = parseUnitFile(`[Unit]\n${line(LINE_MAX - 1)}\nA=b\n`);
      expect(ok.map((o) => o.value.length)).toEqual([LINE_MAX - 1 - "Description=".length, 1]);
    });

    test("the same holds for the last line without a newline", () => {
      expect(parseError(`[Unit]\n${line(LINE_MAX)}`).line).toBe(2);
      expect(parseUnitFile(`[Unit]\n${line(LINE_MAX - 1)}`)).toHaveLength(1);
    });

    test("the limit counts UTF-8 bytes", () => {
      const prefix = "Description=";
      const twoByte = "é".repeat((LINE_MAX - prefix.length) / 2);
      expect(parseError(`[Unit]\n${prefix}${twoByte}\n`).reason).toBe("line too long (max 2048 bytes)");
      expect(parseUnitFile(`[Unit]\n${prefix}${twoByte.slice(1)}x\n`)).toHaveLength(1);
    });

    test("continuation lines and comment lines are measured too", () => {
      expect(parseError(`[Service]\nA=x \\\n${"y".repeat(LINE_MAX)}\n`).line).toBe(3);
      expect(parseError(`[Service]\n#${"y".repeat(LINE_MAX - 1)}\nA=b\n`).line).toBe(2);
      expect(parseUnitFile(`[Service]\n#${"y".repeat(LINE_MAX - 2)}\nA=b\n`)).toHaveLength(1);
      expect(parseError(`${"junk".repeat(LINE_MAX)}\n[Unit]\nA=b\n`).line).toBe(1);
    });

    test("a \\r counts as a line end for the guard, though not for the lexer", () => {
      const value = `${"x".repeat(1500)}\r${"y".repeat(1500)}`;
      expect(parseUnitFile(`[Unit]\nA=${value}\n`)).toEqual([opt("Unit", "A", value)]);
    });
  });
});

describe("serializeUnitFile", () => {
  test("the reference example", () => {
    expect(
      serializeUnitFile([opt("Unit", "Description", "Foo"), opt("Service", "ExecStart", "/bin/true")]),
    ).toBe("[Unit]\nDescription=Foo\n\n[Service]\nExecStart=/bin/true\n");
  });

  test("no options give the empty string", () => {
    expect(serializeUnitFile([])).toBe("");
  });

  test("sections are grouped in order of first appearance", () => {
    const options = [
      opt("Service", "ExecStart", "/a"),
      opt("Unit", "Description", "d"),
      opt("Service", "ExecStop", "/b"),
      opt("X-Fleet", "Global", "true"),
      opt("Unit", "After", "x.service"),
    ];
    expect(serializeUnitFile(options)).toBe(
      "[Service]\nExecStart=/a\nExecStop=/b\n\n[Unit]\nDescription=d\nAfter=x.service\n\n[X-Fleet]\nGlobal=true\n",
    );
  });

  test("comments, blank lines and spacing are gone after a round trip", () => {
    const text = "; header\n[Unit]\n# c\n\n Description = Foo  \n[Empty]\n[Service]\nExecStart = /bin/true\n";
    expect(serializeUnitFile(parseUnitFile(text))).toBe(
      "[Unit]\nDescription=Foo\n\n[Service]\nExecStart=/bin/true\n",
    );
  });

  test("names and values not from the parser are trimmed as the parser would", () => {
    expect(serializeUnitFile([opt("Service", " ExecStart ", "  /bin/true \t")])).toBe(
      "[Service]\nExecStart=/bin/true\n",
    );
    expect(serializeUnitFile([opt("Service", "A", "x \\\n  ")])).toBe("[Service]\nA=x \\\n");
  });
});

describe("unitHash", () => {
  test.each([
    ["[Service]\nExecStart=/bin/sleep 100\n", "1c6fb6f3684bafb0c173d8b8b957ceff031180c1", "1c6fb6f"],
    ["[Unit]\nDescription=some description\n", "a0f275d46bc6ee0eca06be7c339913c07d99c0c7", "a0f275d"],
    ["", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "da39a3e"],
  ])("the hash of %p is %p", (text, hash, short) => {
    const options = parseUnitFile(text);
    expect(unitHash(options)).toBe(hash);
    expect(shortUnitHash(unitHash(options))).toBe(short);
    expect(loadUnitFile(text)).toEqual({ options, text, hash });
  });

  test("equal options give equal hashes; formatting does not matter, content does", () => {
    const a = loadUnitFile("[Service]\nExecStart=/bin/sleep 100\n");
    const b = loadUnitFile("# comment\n[Service]\n  ExecStart = /bin/sleep 100  \n");
    const c = loadUnitFile("[Service]\nExecStart=/bin/sleep 101\n");
    expect(b.hash).toBe(a.hash);
    expect(c.hash).not.toBe(a.hash);
  });

  test("options with surrounding whitespace hash as they will when read back (§2.3 quirk)", () => {
    const fromApi = unitFileFromOptions([opt("Service", "ExecStart", "  /bin/sleep 100  ")]);
    expect(fromApi.hash).toBe("1c6fb6f3684bafb0c173d8b8b957ceff031180c1");
    expect(unitHash([opt("Service", "ExecStart", "/bin/sleep 100 ")])).toBe(fromApi.hash);
    expect(loadUnitFile(fromApi.text)).toEqual(fromApi);
  });
});

describe("canonical form", () => {
  test("options are regrouped by section, so that parsing the text gives them back", () => {
    const file = loadUnitFile("[Service]\nA=1\n[Unit]\nB=2\n[Service]\nC=3\n");
    expect(file.options).toEqual([opt("Service", "A", "1"), opt("Service", "C", "3"), opt("Unit", "B", "2")]);
    expect(file.text).toBe("[Service]\nA=1\nC=3\n\n[Unit]\nB=2\n");
    expect(parseUnitFile(file.text)).toEqual(file.options);
  });

  test("a value ending in a backslash becomes what the stored text means when read back", () => {
    // "foo\ " is not a continuation here, but serialises as one, swallowing the next line;
    // systemd, which strips trailing whitespace first, reads the original file that way too.
    expect(parseUnitFile("[Service]\nA=foo\\ \nB=bar\n")).toEqual([
      opt("Service", "A", "foo\\"),
      opt("Service", "B", "bar"),
    ]);
    const swallowed = loadUnitFile("[Service]\nA=foo\\ \nB=bar\n");
    expect(swallowed.options).toEqual([opt("Service", "A", "foo\\\nB=bar")]);
    expect(swallowed.text).toBe("[Service]\nA=foo\\\nB=bar\n");

    const atEnd = loadUnitFile("[Service]\nA=foo\\");
    expect(atEnd.options).toEqual([opt("Service", "A", "foo\\\n")]);
    expect(atEnd.text).toBe("[Service]\nA=foo\\\n\n");
    expect(unitHash(atEnd.options)).toBe(atEnd.hash);
    expect(loadUnitFile(atEnd.text)).toEqual(atEnd);
  });
});

describe("unitFileFromOptions", () => {
  test("a value with a bare newline does not survive the re-parse", () => {
    expect(() => unitFileFromOptions([opt("Service", "ExecStart", "a\nb")], "x.service")).toThrow(
      "Cannot parse unit file x.service: line 3: unexpected newline encountered while parsing option name",
    );
  });

  test("an over-long value is refused", () => {
    let caught: unknown;
    try {
      unitFileFromOptions([opt("Service", "ExecStart", "x".repeat(3000))]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UnitFileError);
    expect((caught as UnitFileError).reason).toBe("line too long (max 2048 bytes)");
  });
});

describe("limits", () => {
  const limitError = (f: () => unknown): UnitFileLimitError => {
    try {
      f();
    } catch (err) {
      if (err instanceof UnitFileLimitError) return err;
      throw err;
    }
    throw new Error("no UnitFileLimitError");
  };
  /** A valid unit of `options` options, each line 100 bytes. */
  const manyOptions = (n: number) => `[Service]\n${Array.from({ length: n }, (_, i) => `Environment=V${String(i).padStart(6, "0")}=${"x".repeat(84)}\n`).join("")}`;

  test("a file over MAX_UNIT_FILE_BYTES is refused before parsing, naming the unit and the limit", () => {
    const text = manyOptions(Math.ceil(MAX_UNIT_FILE_BYTES / 100) + 1);
    const err = limitError(() => loadUnitFile(text, "big.service"));
    const size = Buffer.byteLength(text);
    expect(err.reason).toBe(`unit file big.service is ${size} bytes, more than the limit of 524288 (512 KiB)`);
    expect(err.message).toBe(`Cannot use unit file big.service: ${err.reason}`);
    expect(err).toBeInstanceOf(UnitFileError);
  });

  test("a file of exactly MAX_UNIT_FILE_BYTES is fine (comments count, as they are read)", () => {
    const body = "[Service]\nExecStart=/bin/true\n";
    const pad = MAX_UNIT_FILE_BYTES - body.length;
    const comment = `#${"c".repeat(98)}\n`;
    const text = `${body}${comment.repeat(Math.floor(pad / 100))}#${"c".repeat((pad % 100) - 2)}\n`;
    expect(Buffer.byteLength(text)).toBe(MAX_UNIT_FILE_BYTES);
    expect(loadUnitFile(text, "edge.service").options).toEqual([opt("Service", "ExecStart", "/bin/true")]);
    expect(limitError(() => loadUnitFile(`${text} `, "edge.service")).reason).toContain("is 524289 bytes");
  });

  test("more than MAX_UNIT_OPTIONS options are refused, from a file and from the API's options", () => {
    expect(loadUnitFile(`[Service]\n${"A=1\n".repeat(MAX_UNIT_OPTIONS)}`, "ok.service").options).toHaveLength(MAX_UNIT_OPTIONS);
    const reason = "unit file many.service has more options than the limit of 4096";
    expect(limitError(() => loadUnitFile(`[Service]\n${"A=1\n".repeat(MAX_UNIT_OPTIONS + 1)}`, "many.service")).reason).toBe(reason);
    const options = Array.from({ length: MAX_UNIT_OPTIONS + 1 }, () => opt("Service", "A", "1"));
    expect(limitError(() => unitFileFromOptions(options, "many.service")).reason).toBe(reason);
  });

  test("options whose canonical text is over the limit are refused", () => {
    const options = Array.from({ length: 300 }, (_, i) => opt("Service", `Environment`, `V${i}=${"y".repeat(1900)}`));
    expect(limitError(() => unitFileFromOptions(options, "wide.service")).reason).toMatch(/^unit file wide\.service is \d+ bytes, more than the limit of 524288 \(512 KiB\)$/);
  });
});

describe("unitDescription and hasInstallSection", () => {
  test("the first [Unit] Description wins", () => {
    const options = parseUnitFile(
      "[Service]\nDescription=not this\n[Unit]\nDescription=first\nDescription=second\n",
    );
    expect(unitDescription(options)).toBe("first");
    expect(unitDescription(parseUnitFile("[Service]\nExecStart=/bin/true\n"))).toBe("");
  });

  test("an [Install] section counts only when it has options", () => {
    expect(hasInstallSection(parseUnitFile("[Unit]\nA=b\n[Install]\nWantedBy=multi-user.target\n"))).toBe(true);
    expect(hasInstallSection(parseUnitFile("[Unit]\nA=b\n[Install]\n"))).toBe(false);
    expect(hasInstallSection(parseUnitFile("[install]\nWantedBy=x.target\n"))).toBe(false);
  });
});

describe("round trips", () => {
  const examplesDir = join(import.meta.dir, "../../examples/units");
  const examples = readdirSync(examplesDir).sort();

  test("the example units are present", () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  test.each(examples)("parse(serialize(parse(%s))) equals parse", (file) => {
    const options = parseUnitFile(readFileSync(join(examplesDir, file), "utf8"), file);
    expect(options.length).toBeGreaterThan(0);
    const text = serializeUnitFile(options);
    expect(parseUnitFile(text, file)).toEqual(options);
    expect(serializeUnitFile(parseUnitFile(text))).toBe(text);
  });

  test.each([
    '[Service]\nExecStart=echo \\\n  "pi\\\n  ng"\n',
    "[Service]\nA=foo \\\n\nB=bar\n",
    "[Service]\nA=foo\\",
    "[Service]\nA=foo\\ \nB=bar\\ \nC=baz",
    "[Service]\nA=x \\\n#y\n[Unit]\nB=1\n[Service]\nC=2\n",
    "[Unit]\r\nDescription=foo\r\n",
    "[Un\nit]\n=empty name\n<<<<<<<<<<<=bar\nA=[x]\n",
    "[a[b]\nA=é\u00a0b\n",
    `[Unit]\nA=${"x".repeat(1500)}\r${"y".repeat(1500)}\n`,
  ])("canonical text is a fixed point for %p", (input) => {
    const first = loadUnitFile(input);
    expect(loadUnitFile(first.text)).toEqual(first);
  });
});

describe("generated inputs", () => {
  // A fixed-seed generator over the characters that matter to the lexer, so that failures
  // reproduce; every input either fails with a UnitFileError or reaches a canonical form.
  const alphabet = ["[", "]", "=", "\\", "\n", "\r", " ", "\t", "#", ";", "a", "B", "é", "[S]\n"];
  function* inputs(count: number): Generator<string> {
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed;
    };
    for (let i = 0; i < count; i++) {
      let text = "[S]\n";
      const length = next() % 40;
      for (let j = 0; j < length; j++) text += alphabet[next() % alphabet.length];
      yield text;
    }
  }

  test("canonical text is a fixed point or the input is refused", () => {
    let parsed = 0;
    for (const input of inputs(3000)) {
      let file;
      try {
        file = loadUnitFile(input);
      } catch (err) {
        expect(err).toBeInstanceOf(UnitFileError);
        continue;
      }
      parsed += 1;
      expect(parseUnitFile(file.text)).toEqual(file.options);
      expect(serializeUnitFile(file.options)).toBe(file.text);
      expect(unitHash(file.options)).toBe(file.hash);
    }
    // The generator must exercise the success path, not just the errors.
    expect(parsed).toBeGreaterThan(300);
  });
});
