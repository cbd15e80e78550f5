"""HPACK for the HTTP/2 conformance tests, by Debian's python3-hpack (an implementation
independent of the server's): one JSON request a line on stdin, one answer a line on stdout.

- {"id", "op": "decode", "blocks": [hex], "table_size"?}: a fresh decoder (its dynamic table
  at most table_size, when given) decodes the blocks in order (one connection's header blocks,
  so its dynamic table follows them); answers [[[name, value]]].
- {"id", "op": "encode", "context", "headers": [[name, value]]}: the context's encoder
  (Huffman and dynamic-table indexing, hpack's defaults) encodes them; answers hex.
"""
import json
import sys

import hpack

encoders = {}

for line in sys.stdin:
    request = json.loads(line)
    answer = {"id": request["id"]}
    try:
        if request["op"] == "decode":
            decoder = hpack.Decoder()
            if "table_size" in request:
                # The SETTINGS_HEADER_TABLE_SIZE we sent: the server's encoder must keep within it.
                decoder.max_allowed_table_size = request["table_size"]
                decoder.header_table_size = request["table_size"]
            answer["result"] = [
                [[n, v] for n, v in decoder.decode(bytes.fromhex(b))] for b in request["blocks"]
            ]
        else:
            encoder = encoders.setdefault(request["context"], hpack.Encoder())
            headers = [(n, v) for n, v in request["headers"]]
            answer["result"] = encoder.encode(headers, huffman=True).hex()
    except Exception as error:  # the test reports it
        answer["error"] = f"{type(error).__name__}: {error}"
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
