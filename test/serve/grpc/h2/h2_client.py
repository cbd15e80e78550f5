"""An independent HTTP/2 client for the gRPC port: Debian's python3-h2 (a strict sans-IO
HTTP/2 state machine, which raises on any protocol violation by the server) on one
connection, every call opened at once, with a small receive window so both sides' flow
control is exercised.

argv: port, spec.json ({"path", "window", "bodies": [hex gRPC-framed messages]}).
stdout: JSON, one answer a call in order: {"headers", "trailers", "data": hex}.
Exits non-zero (h2's exception on stderr) on a protocol error, a reset stream, a GOAWAY
or a timeout.
"""
import json
import socket
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2]) as spec_file:
        spec = json.load(spec_file)
    bodies = [bytes.fromhex(b) for b in spec["bodies"]]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: spec["window"]})

    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", spec["path"]),
        (":authority", f"127.0.0.1:{port}"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    pending = {}  # stream id -> bytes still to send
    answers = {}
    order = []
    for body in bodies:
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, headers)
        pending[stream_id] = body
        answers[stream_id] = {"headers": None, "trailers": None, "data": b"", "ended": False}
        order.append(stream_id)

    def send_what_fits():
        for stream_id, rest in list(pending.items()):
            while rest:
                size = min(
                    conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size, len(rest)
                )
                if size <= 0:
                    break
                conn.send_data(stream_id, rest[:size])
                rest = rest[size:]
            if rest:
                pending[stream_id] = rest
            else:
                conn.end_stream(stream_id)
                del pending[stream_id]

    ended = 0
    while ended < len(order):
        send_what_fits()
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        for event in conn.receive_data(chunk):
            if isinstance(event, h2.events.ResponseReceived):
                answers[event.stream_id]["headers"] = event.headers
            elif isinstance(event, h2.events.TrailersReceived):
                answers[event.stream_id]["trailers"] = event.headers
            elif isinstance(event, h2.events.DataReceived):
                answers[event.stream_id]["data"] += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                answers[event.stream_id]["ended"] = True
                ended += 1
            elif isinstance(event, h2.events.StreamReset):
                if not answers[event.stream_id]["ended"]:
                    raise RuntimeError(f"stream {event.stream_id} reset: {event.error_code}")
            elif isinstance(event, h2.events.ConnectionTerminated):
                raise RuntimeError(f"GOAWAY from the server: {event.error_code}")
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    json.dump(
        [
            {
                "headers": answers[s]["headers"],
                "trailers": answers[s]["trailers"],
                "data": answers[s]["data"].hex(),
            }
            for s in order
        ],
        sys.stdout,
    )


main()
