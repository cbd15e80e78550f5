import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  encodeHeaderBlock,
  HpackDecoder,
  HpackError,
  type HeaderField,
} from "../../../../src/serve/grpc/h2/hpack.js";
import { HUFFMAN_CODES } from "../../../../src/serve/grpc/h2/huffman.js";
import { pythonHas, SYSTEM_PYTHON } from "../../../helpers/python.js";

/**
 * The HPACK codec of the gRPC port's HTTP/2 layer against RFC 7541's own examples (Appendix C)
 * and against an independent implementation, Debian's python3-hpack: hundreds of random header
 * lists encoded by one python Encoder (its dynamic table evolving, Huffman on and off, never-indexed
 * fields, table size updates mid-stream) decode here to the same lists, and our encoder's
 * blocks decode in python to ours. Malformed blocks throw HpackError, and only that, quickly.
 */

const NO_LIMIT = Number.MAX_SAFE_INTEGER;
const hex = (text: string): Uint8Array => Buffer.from(text.replace(/\s+/g, ""), "hex");

/** Decodes `block` and expects it to throw HpackError (not another error). */
function expectHpackError(block: Uint8Array | number[], decoder = new HpackDecoder()): void {
  const bytes = block instanceof Uint8Array ? block : Uint8Array.from(block);
  expect(() => decoder.decode(bytes, NO_LIMIT)).toThrow(HpackError);
}

/** A seeded PRNG (mulberry32): the random cases are the same every run, so a failure reproduces. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// RFC 7541 Appendix C, blocks as printed there, with the header lists and table sizes it gives.
const DATE_21 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_22 = "Mon, 21 Oct 2013 20:13:22 GMT";
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const REQUESTS: { fields: HeaderField[]; size: number }[] = [
  {
    fields: [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ],
    size: 57,
  },
  {
    fields: [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ],
    size: 110,
  },
  {
    fields: [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
    size: 164,
  },
];
const RESPONSES: { fields: HeaderField[]; size: number }[] = [
  {
    fields: [
      [":status", "302"],
      ["cache-control", "private"],
      ["date", DATE_21],
      ["location", "https://www.example.com"],
    ],
    size: 222,
  },
  {
    fields: [
      [":status", "307"],
      ["cache-control", "private"],
      ["date", DATE_21],
      ["location", "https://www.example.com"],
    ],
    size: 222,
  },
  {
    fields: [
      [":status", "200"],
      ["cache-control", "private"],
      ["date", DATE_22],
      ["location", "https://www.example.com"],
      ["content-encoding", "gzip"],
      ["set-cookie", COOKIE],
    ],
    size: 215,
  },
];
const APPENDIX_C = {
  // C.2: one field each, every one on a fresh decoder.
  "C.2": [
    "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
    "040c 2f73 616d 706c 652f 7061 7468",
    "1008 7061 7373 776f 7264 0673 6563 7265 74",
    "82",
  ],
  "C.3": [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
  ],
  "C.4": [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
  ],
  "C.5": [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a" +
      "3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04" +
      "677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49" +
      "553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
  ],
  "C.6": [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e" +
      "919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7" +
      "821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed" +
      "4ee5 b106 3d50 07",
  ],
};
const C2_FIELDS: { fields: HeaderField[]; size: number }[] = [
  { fields: [["custom-key", "custom-header"]], size: 55 },
  { fields: [[":path", "/sample/path"]], size: 0 },
  { fields: [["password", "secret"]], size: 0 },
  { fields: [[":method", "GET"]], size: 0 },
];

describe("RFC 7541 Appendix C", () => {
  it("C.2 literal field forms and an indexed field", () => {
    APPENDIX_C["C.2"].forEach((block, i) => {
      const decoder = new HpackDecoder();
      expect(decoder.decode(hex(block), NO_LIMIT)).toEqual(C2_FIELDS[i].fields);
      expect(decoder.dynamicTableSize).toBe(C2_FIELDS[i].size);
    });
  });

  for (const [section, huffman] of [
    ["C.3", "without"],
    ["C.4", "with"],
  ] as const) {
    it(`${section} requests ${huffman} Huffman on one decoder (its table carried across)`, () => {
      const decoder = new HpackDecoder();
      APPENDIX_C[section].forEach((block, i) => {
        expect(decoder.decode(hex(block), NO_LIMIT)).toEqual(REQUESTS[i].fields);
        expect(decoder.dynamicTableSize).toBe(REQUESTS[i].size);
      });
      // Three entries (62..64) in the table: 65 is past it.
      expect(decoder.decode(Uint8Array.of(0xc0), NO_LIMIT)).toEqual([
        [":authority", "www.example.com"],
      ]);
      expectHpackError([0xc1], decoder);
    });
  }

  for (const [section, huffman] of [
    ["C.5", "without"],
    ["C.6", "with"],
  ] as const) {
    it(`${section} responses ${huffman} Huffman, a 256-octet table evicting`, () => {
      const decoder = new HpackDecoder(256);
      APPENDIX_C[section].forEach((block, i) => {
        expect(decoder.decode(hex(block), NO_LIMIT)).toEqual(RESPONSES[i].fields);
        expect(decoder.dynamicTableSize).toBe(RESPONSES[i].size);
      });
      // C.5.3 leaves three entries, newest first: set-cookie, content-encoding, date.
      expect(decoder.decode(Uint8Array.of(0xbe, 0xbf, 0xc0), NO_LIMIT)).toEqual([
        ["set-cookie", COOKIE],
        ["content-encoding", "gzip"],
        ["date", DATE_22],
      ]);
      // The evicted entries (":status: 302", "location", ...) are gone.
      expectHpackError([0xc1], decoder);
    });
  }

  it("C.1 integers: 1337 with a 5-bit prefix is a size update that evicts", () => {
    const decoder = new HpackDecoder();
    // Insert "custom-key: custom-header" (55 octets) then shrink the table to 54 in the next block.
    decoder.decode(hex(APPENDIX_C["C.2"][0]), NO_LIMIT);
    expect(decoder.decode(Uint8Array.of(0x3f, 0x9a, 0x0a, 0x3f, 0x17), NO_LIMIT)).toEqual([]);
    expect(decoder.dynamicTableSize).toBe(0); // 1337 keeps it, then 31 + 23 = 54 evicts it
    expectHpackError([0xbe], decoder);
    // 1337 again: an entry fits once more.
    decoder.decode(Uint8Array.of(0x3f, 0x9a, 0x0a), NO_LIMIT);
    decoder.decode(hex(APPENDIX_C["C.2"][0]), NO_LIMIT);
    expect(decoder.decode(Uint8Array.of(0xbe), NO_LIMIT)).toEqual([
      ["custom-key", "custom-header"],
    ]);
  });
});

describe("Huffman code table", () => {
  it("is RFC 7541 Appendix B's canonical code: 257 symbols, codes consecutive per length", () => {
    expect(HUFFMAN_CODES.length).toBe(2 * 257);
    const symbols = [...Array(257).keys()].sort(
      (a, b) => HUFFMAN_CODES[2 * a + 1] - HUFFMAN_CODES[2 * b + 1] || a - b,
    );
    let code = 0;
    symbols.forEach((symbol, i) => {
      if (i > 0)
        code =
          (code + 1) * 2 ** (HUFFMAN_CODES[2 * symbol + 1] - HUFFMAN_CODES[2 * symbols[i - 1] + 1]);
      expect(HUFFMAN_CODES[2 * symbol]).toBe(code);
    });
    // Spot checks printed in the RFC: '0' 00000 (5), 'a' 00011 (5), EOS 30 ones.
    expect([HUFFMAN_CODES[2 * 48], HUFFMAN_CODES[2 * 48 + 1]]).toEqual([0x0, 5]);
    expect([HUFFMAN_CODES[2 * 97], HUFFMAN_CODES[2 * 97 + 1]]).toEqual([0x3, 5]);
    expect([HUFFMAN_CODES[2 * 256], HUFFMAN_CODES[2 * 256 + 1]]).toEqual([0x3fffffff, 30]);
  });
});

describe("our encoder", () => {
  it("writes a static full match as one indexed octet, other fields as literals without indexing", () => {
    expect([...encodeHeaderBlock([[":status", "200"]])]).toEqual([0x88]);
    expect([...encodeHeaderBlock([[":status", "500"]])]).toEqual([0x8e]);
    // content-type is static index 31: 0000 1111 then 31 - 15 = 16.
    expect(encodeHeaderBlock([["content-type", "application/grpc"]])).toEqual(
      Buffer.concat([Buffer.of(0x0f, 0x10, 16), Buffer.from("application/grpc")]),
    );
    // :status is first at index 8: a literal value with the name by index.
    expect(encodeHeaderBlock([[":status", "415"]])).toEqual(Buffer.of(0x08, 3, 0x34, 0x31, 0x35));
    expect(encodeHeaderBlock([["grpc-status", "0"]])).toEqual(
      Buffer.concat([Buffer.of(0x00, 11), Buffer.from("grpc-status"), Buffer.of(1, 0x30)]),
    );
    expect(encodeHeaderBlock([])).toEqual(Buffer.alloc(0));
  });

  it("writes multi-octet lengths (RFC 7541 §5.1) and refuses chars that are not octets", () => {
    const value = "x".repeat(20_000);
    const block = encodeHeaderBlock([["grpc-message", value]]);
    // After 0x00, the 12-octet name and its length: 127, then 20000 - 127 = 19873 = 33 + 155 * 128
    // (0x80 | 33), 155 = 27 + 1 * 128 (0x80 | 27), 1.
    expect([...block.subarray(14, 18)]).toEqual([0x7f, 0xa1, 0x9b, 0x01]);
    expect(block.length).toBe(18 + 20_000);
    expect(new HpackDecoder().decode(block, NO_LIMIT)).toEqual([["grpc-message", value]]);
    expect(() => encodeHeaderBlock([["grpc-message", "caf\u00e9 \u2603"]])).toThrow(RangeError);
  });

  it("round-trips through our decoder, leaving its dynamic table empty", () => {
    const random = prng(7);
    const decoder = new HpackDecoder();
    for (let i = 0; i < 200; i++) {
      const fields = randomFields(random);
      expect(decoder.decode(encodeHeaderBlock(fields), NO_LIMIT)).toEqual(fields);
    }
    expect(decoder.dynamicTableSize).toBe(0);
  });
});

describe("malformed blocks throw HpackError", () => {
  it("index 0, an index past the tables", () => {
    expectHpackError([0x80]);
    expectHpackError([0xbe]); // 62 with an empty dynamic table
    expectHpackError([0xff, 0x80, 0x01]); // 127 + 128 = 255
    expectHpackError([0x7f, 0x00, 0x00]); // literal with incremental indexing, name index 63
    expectHpackError([0x0f, 0x2f, 0x00]); // literal without indexing, name index 62
    expectHpackError([0x1f, 0x2f, 0x00]); // never indexed, name index 62
  });

  it("integers: truncated, over 2^31 - 1, more than five continuation octets", () => {
    expectHpackError([0xff]);
    expectHpackError([0xff, 0x80]);
    expectHpackError([0x3f, 0xff, 0xff]);
    expectHpackError([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]); // about 2^32
    expectHpackError([0x1f, ...Array<number>(100_000).fill(0xff)]);
    expectHpackError([0x3f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]); // zeros, but six octets
    // Five continuation octets with a small value are accepted (RFC 7541 §5.1 allows them).
    // (A size update to 31 written with five continuation octets, then :method GET.)
    expect(
      new HpackDecoder().decode(Uint8Array.of(0x3f, 0x80, 0x80, 0x80, 0x80, 0x00, 0x82), NO_LIMIT),
    ).toEqual([[":method", "GET"]]);
    expectHpackError([0xff, 0x80, 0x80, 0x80, 0x80, 0x00]); // ... index 127 is past the tables
    // 2^31 - 1 itself is a valid integer: as a size update it is only over our ceiling.
    expectHpackError([0x3f, 0xe0, 0xff, 0xff, 0xff, 0x07]);
  });

  it("strings: past the end, missing, cut", () => {
    expectHpackError([0x00, 0x05, 0x61]);
    expectHpackError([0x00]);
    expectHpackError([0x04]);
    expectHpackError([0x40, 0x01, 0x61]);
    expectHpackError([0x00, 0x7f, 0xff, 0xff, 0xff, 0x07, 0x61]); // a 2 GiB length
  });

  it("Huffman: EOS inside a string, padding of 8+ bits, padding with a zero bit", () => {
    // The control: 'a' is 00011, so 0x1f is 'a' and three padding ones.
    expect(new HpackDecoder().decode(Uint8Array.of(0x00, 0x81, 0x1f, 0x00), NO_LIMIT)).toEqual([
      ["a", ""],
    ]);
    expectHpackError([0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00]); // EOS (30 ones) and 2 ones
    expectHpackError([0x00, 0x85, 0x1f, 0xff, 0xff, 0xff, 0xff, 0x00]); // 'a', then EOS
    expectHpackError([0x00, 0x82, 0x1f, 0xff, 0x00]); // 'a' and 11 padding ones
    expectHpackError([0x00, 0x81, 0xff, 0x00]); // only padding, 8 ones
    expectHpackError([0x00, 0x81, 0x1e, 0x00]); // 'a' and padding 110
    expectHpackError([0x00, 0x81, 0x00, 0x00]); // '0' (00000) and padding 000
  });

  it("table size updates: over the ceiling, after a field", () => {
    // 4097 with a 5-bit prefix: 31, then 4066 = 0x62 | 0x80, 0x1f.
    expectHpackError([0x3f, 0xe2, 0x1f]);
    expect(new HpackDecoder().decode(Uint8Array.of(0x3f, 0xe1, 0x1f, 0x82), NO_LIMIT)).toEqual([
      [":method", "GET"],
    ]);
    expectHpackError([0x21], new HpackDecoder(0));
    expectHpackError([0x82, 0x20]);
    expectHpackError([0x20, 0x82, 0x3f, 0xe1, 0x1f]);
    // Two at the start are what RFC 7541 §4.2 describes (the smallest, then the final size).
    expect(
      new HpackDecoder(8192).decode(Uint8Array.of(0x20, 0x3f, 0xe1, 0x3f, 0x82), NO_LIMIT),
    ).toEqual([[":method", "GET"]]);
  });

  it("a fuzz of random and mutated blocks: only HpackError, and fast", () => {
    const random = prng(19);
    const seeds = [
      ...Object.values(APPENDIX_C).flat().map(hex),
      ...Array.from({ length: 20 }, () => encodeHeaderBlock(randomFields(random))),
    ];
    let decoder = new HpackDecoder(random() < 0.5 ? 256 : 4096);
    let errors = 0;
    const started = performance.now();
    for (let i = 0; i < 6000; i++) {
      let block: Uint8Array;
      if (i % 2 === 0) {
        block = Uint8Array.from({ length: Math.floor(random() * 48) }, () =>
          Math.floor(random() * 256),
        );
      } else {
        block = Uint8Array.from(seeds[Math.floor(random() * seeds.length)]);
        const flips = 1 + Math.floor(random() * 4);
        for (let f = 0; f < flips && block.length > 0; f++) {
          const at = Math.floor(random() * block.length);
          block[at] =
            random() < 0.5
              ? block[at] ^ (1 << Math.floor(random() * 8))
              : Math.floor(random() * 256);
        }
        if (random() < 0.2) block = block.subarray(0, Math.floor(random() * block.length));
      }
      try {
        decoder.decode(block, random() < 0.1 ? 100 : NO_LIMIT);
      } catch (error) {
        if (!(error instanceof HpackError)) throw error;
        errors++;
        // A connection does not survive a COMPRESSION_ERROR: start over as a new one would.
        decoder = new HpackDecoder(random() < 0.5 ? 256 : 4096);
      }
    }
    expect(errors).toBeGreaterThan(1000);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe("input views", () => {
  it("decodes a plain Uint8Array view at an offset of a larger buffer (a frame payload)", () => {
    const block = hex(APPENDIX_C["C.4"][0]);
    const payload = new Uint8Array(64).fill(0xff);
    payload.set(block, 9);
    const view = payload.subarray(9, 9 + block.length);
    expect(new HpackDecoder().decode(view, NO_LIMIT)).toEqual(REQUESTS[0].fields);
  });
});

describe("maxListSize", () => {
  it("a list over the limit is null, and the table still follows the block", () => {
    const decoder = new HpackDecoder();
    const value = "v".repeat(100);
    const block = Buffer.concat([
      Buffer.of(0x82, 0x40, 5),
      Buffer.from("x-big"),
      Buffer.of(100),
      Buffer.from(value),
    ]);
    // :method GET (42) + x-big (137) = 179.
    expect(decoder.decode(block, 178)).toBeNull();
    expect(decoder.dynamicTableSize).toBe(137);
    expect(decoder.decode(Uint8Array.of(0xbe, 0x82), 179)).toEqual([
      ["x-big", value],
      [":method", "GET"],
    ]);
    // Exactly at the limit is within it; the size counts octets (a 0xe9 value char is one).
    expect(new HpackDecoder().decode(Uint8Array.of(0x04, 0x02, 0x2f, 0xe9), 5 + 2 + 32)).toEqual([
      [":path", "/\u00e9"],
    ]);
    expect(new HpackDecoder().decode(Uint8Array.of(0x04, 0x02, 0x2f, 0xe9), 5 + 2 + 31)).toBeNull();
  });
});

/** Random header lists: static and gRPC names, random and non-ASCII names and values, long values. */
function randomFields(random: () => number, options: { huge?: boolean } = {}): HeaderField[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const octets = (length: number, low: number, high: number): string =>
    String.fromCharCode(
      ...Array.from({ length }, () => low + Math.floor(random() * (high - low + 1))),
    );
  const names = [
    ":method",
    ":path",
    ":status",
    ":authority",
    "content-type",
    "te",
    "grpc-timeout",
    "user-agent",
    "grpc-encoding",
    "authorization",
    "x-trace-bin",
  ];
  const values = [
    "",
    "POST",
    "200",
    "/inference.GRPCInferenceService/ModelInfer",
    "application/grpc",
    "trailers",
    "gzip, deflate",
  ];
  const count = Math.floor(random() * 12);
  const fields: HeaderField[] = [];
  for (let i = 0; i < count; i++) {
    const r = random();
    const name =
      r < 0.5
        ? pick(names)
        : r < 0.8
          ? octets(1 + Math.floor(random() * 20), 0x61, 0x7a)
          : octets(1 + Math.floor(random() * 10), 0x21, 0xff);
    const kind = random();
    let value: string;
    if (kind < 0.3) value = pick(values);
    else if (kind < 0.4) value = "";
    else if (kind < 0.7) value = `${Math.floor(random() * 100_000)}u`;
    else if (kind < 0.9) value = octets(Math.floor(random() * 40), 0x00, 0xff);
    else if (kind < 0.98 || !options.huge)
      value = octets(128 + Math.floor(random() * 300), 0x00, 0xff);
    else value = octets(16_384 + Math.floor(random() * 2000), 0x00, 0xff);
    fields.push([name, value]);
  }
  return fields;
}

const missing = pythonHas("hpack")
  ? undefined
  : `${SYSTEM_PYTHON} lacks the hpack module (Debian: python3-hpack)`;
if (missing !== undefined) console.warn(`skipping the python-hpack cases: ${missing}`);

interface PeerStep {
  tableSizes: number[];
  huffman: boolean;
  headers: [string, string, boolean][];
}
interface PeerAnswer {
  encoded: string[][];
  decoded: { lists: HeaderField[][]; tableLength: number }[];
  staticTable: HeaderField[];
  huffman: [number, number][];
}

describe.skipIf(missing !== undefined)("against python3-hpack", () => {
  const random = prng(2026);
  const CEILING = 8192;
  // Python encodes these on one Encoder per sequence; each step is one header block.
  const sequences: PeerStep[][] = Array.from({ length: 4 }, (_, s) =>
    Array.from({ length: 120 }, () => ({
      tableSizes:
        random() < 0.08
          ? Array.from({ length: 1 + Math.floor(random() * 2) }, () =>
              pick(random, [0, 32, 100, 256, 1024, 4096, CEILING]),
            )
          : [],
      // Sequence 0 never Huffman-codes, sequence 1 always, the others mix per block.
      huffman: s === 0 ? false : s === 1 ? true : random() < 0.5,
      headers: randomFields(random, { huge: true }).map(([name, value]) => [
        name,
        value,
        random() < 0.15,
      ]),
    })),
  );
  const ours: HeaderField[][] = Array.from({ length: 200 }, () =>
    randomFields(random, { huge: true }),
  );
  let answer: PeerAnswer;

  beforeAll(() => {
    const script = fileURLToPath(new URL("./hpack_peer.py", import.meta.url));
    const job = {
      encode: sequences,
      decode: [
        { blocks: ours.map((fields) => encodeHeaderBlock(fields).toString("hex")) },
        ...(["C.3", "C.4"] as const).map((section) => ({
          blocks: APPENDIX_C[section].map(compact),
        })),
        ...(["C.5", "C.6"] as const).map((section) => ({
          tableSize: 256,
          blocks: APPENDIX_C[section].map(compact),
        })),
        ...APPENDIX_C["C.2"].map((block) => ({ blocks: [compact(block)] })),
        { blocks: Array.from({ length: 61 }, (_, i) => (0x81 + i).toString(16)) },
      ],
    };
    const result = spawnSync(SYSTEM_PYTHON, [script], {
      input: JSON.stringify(job),
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    });
    if (result.status !== 0)
      throw new Error(`hpack_peer.py failed (${result.status}): ${result.stderr}`);
    answer = JSON.parse(result.stdout) as PeerAnswer;
  });

  it("the Appendix C blocks above decode in python to the RFC's lists (the transcription is right)", () => {
    const [, c3, c4, c5, c6, ...rest] = answer.decoded;
    expect(c3.lists).toEqual(REQUESTS.map((r) => r.fields));
    expect(c4.lists).toEqual(REQUESTS.map((r) => r.fields));
    expect(c5.lists).toEqual(RESPONSES.map((r) => r.fields));
    expect(c6.lists).toEqual(RESPONSES.map((r) => r.fields));
    expect(rest.slice(0, 4).map((d) => d.lists[0])).toEqual(C2_FIELDS.map((c) => c.fields));
  });

  it("the static table and the Huffman code are python's", () => {
    const statics = answer.decoded[answer.decoded.length - 1].lists.map((list) => list[0]);
    expect(statics).toEqual(answer.staticTable);
    const decoder = new HpackDecoder();
    expect(statics.map((_, i) => decoder.decode(Uint8Array.of(0x81 + i), NO_LIMIT)?.[0])).toEqual(
      answer.staticTable,
    );
    expect(answer.huffman.flat()).toEqual(HUFFMAN_CODES);
  });

  it("python's blocks from one evolving Encoder decode here to the lists it encoded", () => {
    let blocks = 0;
    let withUpdates = 0;
    sequences.forEach((steps, s) => {
      const decoder = new HpackDecoder(CEILING);
      steps.forEach((step, i) => {
        const block = hex(answer.encoded[s][i]);
        if (step.tableSizes.length > 0) withUpdates++;
        const expected = step.headers.map(([name, value]) => [name, value]);
        expect(decoder.decode(block, NO_LIMIT), `sequence ${s}, block ${i}`).toEqual(expected);
        blocks++;
      });
    });
    expect(blocks).toBe(480);
    expect(withUpdates).toBeGreaterThan(10);
    // The random lists reached the cases the brief names: long values, never-indexed fields.
    const all = sequences.flat().flatMap((step) => step.headers);
    expect(all.some(([, value]) => value.length > 16_383)).toBe(true);
    expect(all.some(([, , sensitive]) => sensitive)).toBe(true);
    expect(all.some(([, value]) => /[\x80-\xff]/.test(value))).toBe(true);
  });

  it("our encoder's blocks decode in python to our lists, its dynamic table untouched", () => {
    expect(answer.decoded[0].lists).toEqual(ours);
    expect(answer.decoded[0].tableLength).toBe(0);
  });
});

function compact(block: string): string {
  return block.replace(/\s+/g, "");
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}
