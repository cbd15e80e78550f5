import { describe, expect, it } from "vitest";
import { readPickle } from "../../../src/import/pickle/read.js";
import type { PyObject } from "../../../src/import/pickle/values.js";
import { ImportError } from "../../../src/import/types.js";

/**
 * Broken and hostile-by-size streams, assembled by hand: each is one ImportError naming what
 * is wrong and the byte offset, never another exception, never an allocation the file only
 * claims.
 */
const b = (...parts: ReadonlyArray<string | readonly number[]>) =>
  Uint8Array.from(
    parts.flatMap((p) => (typeof p === "string" ? [...Buffer.from(p, "latin1")] : p)),
  );
const read = (bytes: Uint8Array) =>
  readPickle(bytes, { allowedClasses: new Set(), source: "m.pkl" });
const u64 = (value: bigint) => [...new Uint8Array(new BigUint64Array([value]).buffer)];

function failure(bytes: Uint8Array): string {
  try {
    read(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(ImportError);
    expect((error as Error).message).not.toContain("\n");
    return (error as Error).message;
  }
  throw new Error("read() did not fail");
}

describe("malformed pickles", () => {
  it("reads a tiny valid stream (control)", () => {
    expect(read(b([0x80, 0x02], "K", [5], "."))).toBe(5);
    expect(read(b("I42\n."))).toBe(42);
  });

  it("says what is wrong and where", () => {
    const cases: Array<[Uint8Array, string]> = [
      [b(), "m.pkl: the file is empty, not a pickle"],
      [
        b([0x80, 0x04, 0x95, 1, 2]),
        "m.pkl: malformed pickle at byte 3: FRAME needs 8 bytes but only 2 remain",
      ],
      [
        b([0x80, 0x02], "K", [5]),
        "m.pkl: malformed pickle at byte 4: the stream ends before its STOP opcode",
      ],
      [
        b([0x80, 0x04, 0x8e], u64(1n << 60n), "abc"),
        "m.pkl: malformed pickle at byte 3: BINBYTES8 claims 1152921504606846976 bytes but only 3 remain",
      ],
      [
        b([0x80, 0x04, 0x8d], u64(1n << 60n), "abc"),
        "m.pkl: malformed pickle at byte 3: BINUNICODE8 claims 1152921504606846976 bytes but only 3 remain",
      ],
      [
        b([0x80, 0x04, 0x96], u64(0xffffffffffffffffn)),
        "BYTEARRAY8 claims 18446744073709551615 bytes",
      ],
      [
        b([0x80, 0x02], "X", [0xff, 0xff, 0xff, 0x7f], "."),
        "BINUNICODE needs 2147483647 bytes but only 1 remain",
      ],
      [b([0x80, 0x02], "R."), "m.pkl: malformed pickle at byte 2: REDUCE: the stack is empty"],
      [b([0x80, 0x02], "N", "t."), "m.pkl: malformed pickle at byte 3: TUPLE: no MARK before it"],
      [
        b([0x80, 0x02], "h", [5], "."),
        "m.pkl: malformed pickle at byte 2: BINGET: memo key 5 was never stored",
      ],
      [b([0x80, 0x02], "g7\n."), "GET: memo key 7 was never stored"],
      [
        b([0x80, 0x06], "N."),
        "m.pkl: malformed pickle at byte 0: PROTO: protocol 6 is newer than the 0–5 mldeploy reads",
      ],
      [
        b([0x80, 0x02, 0xff]),
        "m.pkl: malformed pickle at byte 2: byte 0xff is not a pickle opcode",
      ],
      [
        b([0x80, 0x02, 0x8b], [0xff, 0xff, 0xff, 0x7f], "."),
        "LONG4: an int of 2147483647 bytes (at most 1048576 are read)",
      ],
      [b([0x80, 0x02, 0x8b], [0xff, 0xff, 0xff, 0xff], "."), "LONG4: a negative length (-1)"],
      [b("L", "9".repeat(5000), "L\n."), 'LONG: "9999999999'],
      [b("I12x\n."), 'INT: "12x" is not an int'],
      [b("Fnope\n."), 'FLOAT: "nope" is not a float'],
      [b("S'unterminated\n."), "STRING: not a quoted string literal"],
      [b("}(K", [1], "K", [2], "K", [3], "u."), "SETITEMS: an odd number of items"],
      [b([0x80, 0x02], "K", [1], "K", [2], "a."), "APPEND: appends to an int or float"],
      [b([0x80, 0x02], "K", [1], ")b."), "BUILD: sets the state of an int or float"],
      [b([0x80, 0x02], "N)R."), "REDUCE calls None, not a class"],
      [b("cbuiltins\nset\nK", [1], "R."), "REDUCE: its arguments are an int or float, not a tuple"],
      [b("x"), "m.pkl: malformed pickle at byte 0: byte 0x78 is not a pickle opcode"],
      [b([0x78, 0x9c, 1, 2, 3]), "m.pkl: the zlib-compressed joblib file is corrupt or truncated"],
      [b([0x1f, 0x8b, 8, 0, 0]), "m.pkl: the gzip-compressed joblib file is corrupt or truncated"],
      [b([0x93], "NUMPY"), "m.pkl: a numpy .npy file, not a pickle or joblib file"],
      [b('{"learner": {}}'), "m.pkl: a JSON document (an XGBoost model?), not a pickle"],
      [b([0x04, 0x22, 0x4d, 0x18, 0]), "m.pkl: refused to load: it is compressed with lz4"],
    ];
    for (const [bytes, message] of cases) expect(failure(bytes)).toContain(message);
  });

  it("refuses arrays whose shape or data disagree, before allocating them", () => {
    const int32 = (d: number) => [d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff];
    // _frombuffer(bytes, dtype("f8"), shape, "C"), as protocol 5 writes arrays in-band.
    const array = (shape: readonly number[], data: string) =>
      b(
        [0x80, 0x05],
        "cnumpy.core.numeric\n_frombuffer\n(C",
        [data.length],
        data,
        "cnumpy\ndtype\nU",
        [2],
        "f8",
        [0x89, 0x88, 0x87],
        "R(",
        ...shape.flatMap((d) => ["J", int32(d)]),
        "tU",
        [1],
        "CtR.",
      );
    expect(read(array([1], "\0\0\0\0\0\0\xf8\x3f"))).toMatchObject({ kind: "ndarray", shape: [1] });
    expect(failure(array([2], "\0\0\0\0\0\0\xf8\x3f"))).toContain(
      "needs 16 bytes, the file gives 8",
    );
    expect(failure(array([0x7fffffff, 0x7fffffff, 0x7fffffff], ""))).toContain("is too large");
  });

  it("bounds nesting depth", () => {
    const depth = 100_000;
    const deep = b([0x80, 0x02], "]".repeat(depth), "a".repeat(depth - 1), ".");
    const started = Date.now();
    expect(failure(deep)).toMatch(
      /^m\.pkl: malformed pickle at byte 1003: values nest deeper than 1000 levels$/,
    );
    const marks = b([0x80, 0x02], "(".repeat(depth), "t".repeat(depth), ".");
    expect(failure(marks)).toContain("values nest deeper than 1000 levels");
    expect(Date.now() - started).toBeLessThan(5000);
    // 900 levels is fine.
    expect(read(b([0x80, 0x02], "]".repeat(900), "a".repeat(899), "."))).toHaveLength(1);
  });

  it("keeps a huge, sparse memo cheap", () => {
    const puts: number[] = [];
    for (let i = 0; i < 50_000; i++)
      puts.push(0x72, ...[i * 85_899, 0, 0, 0].map((_, j) => ((i * 85_899) >>> (8 * j)) & 0xff));
    const bytes = b(
      [0x80, 0x02],
      "N",
      puts,
      [0x6a, 0xff, 0xff, 0xff, 0xff],
      "0",
      "j",
      [0x93, 0x62, 0x0c, 0x00],
      ".",
    );
    expect(failure(bytes)).toContain("LONG_BINGET: memo key 4294967295 was never stored");
  });
});

describe("large but legal streams", () => {
  it("reads a MARK holding a million items", () => {
    const n = 1_000_000;
    const bytes = new Uint8Array(4 + n * 2 + 2);
    bytes.set([0x80, 0x02, 0x5d, 0x28]); // PROTO 2, EMPTY_LIST, MARK
    for (let i = 0; i < n; i++) bytes.set([0x4b, i & 0xff], 4 + i * 2); // BININT1
    bytes.set([0x65, 0x2e], 4 + n * 2); // APPENDS, STOP
    const list = readPickle(bytes, { allowedClasses: new Set() }) as number[];
    expect(list).toHaveLength(n);
    expect(list[n - 1]).toBe((n - 1) & 0xff);
  });

  it("reads a protocol 0 STRING of a megabyte", () => {
    const text = "x".repeat(1 << 20);
    expect(readPickle(Buffer.from(`S'${text}'\n.`, "latin1"), { allowedClasses: new Set() })).toBe(
      text,
    );
  });
});

describe("constructions of allowed classes", () => {
  const allowedClasses = new Set(["my.mod.Thing"]);
  const read = (...parts: ReadonlyArray<string | readonly number[]>) =>
    readPickle(b(...parts), { allowedClasses, source: "c.pkl" }) as PyObject;

  it("records arguments, keyword arguments and state, calling nothing", () => {
    expect(read("(I1\nimy.mod\nThing\n.")).toMatchObject({ className: "my.mod.Thing", args: [1] });
    expect(read("(cmy.mod\nThing\nI2\no.")).toMatchObject({ className: "my.mod.Thing", args: [2] });
    expect(read("ccopyreg\n__newobj__\n(cmy.mod\nThing\nK", [5], "tR.")).toMatchObject({
      className: "my.mod.Thing",
      args: [5],
    });
    const withKwargs = read(
      [0x80, 0x04, 0x8c, 6],
      "my.mod",
      [0x94, 0x8c, 5],
      "Thing",
      [0x94, 0x93],
      ")}",
      [0x8c, 1],
      "aK",
      [1],
      "s",
      [0x92],
      ".",
    );
    expect(withKwargs.kwargs).toEqual(new Map([["a", 1]]));
    // BUILD with (dict, slots): both merge into the state.
    const slots = read(
      [0x80, 0x02],
      "cmy.mod\nThing\n)",
      [0x81],
      "}U",
      [1],
      "aK",
      [1],
      "s}U",
      [1],
      "bK",
      [2],
      "s",
      [0x86],
      "b.",
    );
    expect(slots.state).toEqual(
      new Map([
        ["a", 1],
        ["b", 2],
      ]),
    );
    expect(read([0x80, 0x02], "cmy.mod\nThing\n)", [0x81], "K", [7], "b.").rawState).toBe(7);
    const items = read(
      [0x80, 0x02],
      "cmy.mod\nThing\n)",
      [0x81],
      "(U",
      [1],
      "kK",
      [1],
      "u(K",
      [9],
      "e.",
    );
    expect(items.dictItems?.entries).toEqual(new Map([["k", 1]]));
    expect(items.listItems).toEqual([9]);
    // MARK, 1, 2, POP_MARK drops back; 3, DUP, TUPLE2 → (3, 3).
    expect(
      readPickle(b("(K", [1], "K", [2], "1K", [3], "2", [0x86], "."), { allowedClasses }),
    ).toEqual({
      kind: "tuple",
      items: [3, 3],
    });
  });

  it("refuses the same streams when the class is not allowed", () => {
    expect(() => readPickle(b("(I1\nimy.mod\nThing\n."), { allowedClasses: new Set() })).toThrow(
      /^pickle: refused to load: it asks for my\.mod\.Thing/,
    );
  });
});
