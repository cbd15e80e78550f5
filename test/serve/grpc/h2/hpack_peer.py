"""The independent side of test/serve/grpc/h2/hpack.test.ts: Debian's python3-hpack.

Reads one JSON job from stdin, answers one JSON object on stdout. Header names and values travel
as latin1 strings (one char per octet), blocks as hex.

  encode: sequences; each runs on ONE hpack.Encoder (its dynamic table evolves across the
          sequence's blocks). A step may first set encoder.header_table_size (several times),
          which hpack emits as size updates at the start of the next block.
  decode: sequences; each runs on ONE hpack.Decoder, optionally with a table size first.
"""

import json
import sys

import hpack
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable


def octets(text):
    return text.encode("latin1")


def text(raw):
    return raw.decode("latin1")


def encode(sequence):
    encoder = hpack.Encoder()
    blocks = []
    for step in sequence:
        for size in step.get("tableSizes", []):
            encoder.header_table_size = size
        headers = [
            hpack.NeverIndexedHeaderTuple(octets(n), octets(v)) if sensitive
            else hpack.HeaderTuple(octets(n), octets(v))
            for n, v, sensitive in step["headers"]
        ]
        blocks.append(encoder.encode(headers, huffman=step["huffman"]).hex())
    return blocks


def decode(sequence):
    decoder = hpack.Decoder(max_header_list_size=1 << 30)
    if sequence.get("tableSize") is not None:
        decoder.header_table_size = sequence["tableSize"]
    lists = []
    for block in sequence["blocks"]:
        lists.append([[text(n), text(v)] for n, v in decoder.decode(bytes.fromhex(block), raw=True)])
    return {"lists": lists, "tableLength": len(decoder.header_table.dynamic_entries)}


job = json.load(sys.stdin)
json.dump(
    {
        "encoded": [encode(sequence) for sequence in job.get("encode", [])],
        "decoded": [decode(sequence) for sequence in job.get("decode", [])],
        "staticTable": [[text(n), text(v)] for n, v in HeaderTable.STATIC_TABLE],
        "huffman": [[code, length] for code, length in zip(REQUEST_CODES, REQUEST_CODES_LENGTH)],
    },
    sys.stdout,
)
