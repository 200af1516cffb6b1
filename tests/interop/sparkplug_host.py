"""A Sparkplug B host made of pysparkplug 0.6.1, for tests/sparkplug_interop.rs.

    python3 tests/interop/sparkplug_host.py PORT GROUP EDGE_NODE

It connects to the MQTT broker on 127.0.0.1:PORT with pysparkplug's own `Client`, subscribes
to `spBv1.0/GROUP/#` (node and device levels), and prints one JSON line per message received,
flushed, decoded by pysparkplug alone. The Rust test reads these lines and makes every
assertion; this script judges nothing.

Why pysparkplug's `Client` and not a decoder over plain paho: it is what a host written with
that library sees. The client keeps the last NBIRTH/DBIRTH of every (group, node, device) and
decodes each NDATA/DDATA against it, so an alias comes back with the name and datatype of its
birth. If the agent's aliases did not match its births, the names printed here would be
wrong (or the decode would fail, which is printed as an "error" line).

Lines printed:
  {"event": "ready"}                   the subscription works (a probe DCMD went round trip)
  {"event": "message", "type": "NBIRTH", "device": null, "seq": 0, "timestamp": ...,
   "wire_seq": true, "metrics": [{"name", "alias", "datatype" (pysparkplug's name, e.g.
   "DOUBLE"), "value", "is_historical", "is_null", "timestamp", "wire_name",
   "wire_datatype"}]}
      One per message from the edge node, as the Client decoded it. "wire_*": the field was in
      the payload's protobuf, i.e. before the Client filled names and datatypes in from the
      birth. NDEATH: "metrics" holds the bdSeq metric, the only one pysparkplug's NDeath has.
  {"event": "message", "type": "NCMD", "metrics": [{"name", "wire_datatype"}], ...}
      Our own commands as the broker passed them on (read from the protobuf only).
  {"event": "sent", "command": ...}    a command below was published
  {"event": "error", "topic", "error"} pysparkplug could not decode a message

Commands on stdin, one per line (the Rust test decides when):
  rebirth   NCMD `Node Control/Rebirth` = true, encoded by pysparkplug's NCmd and published
            by its Client (no datatype on the wire: the Client's default include_dtypes=False)
  unknown   NCMD `Node Control/Reboot` = true, a command the agent does not implement
End of stdin: disconnect and exit.
"""

import json
import math
import sys
import threading
import time

import pysparkplug as psp
from pysparkplug import (
    Client,
    DataType,
    DCmd,
    Message,
    MessageType,
    Metric,
    NCmd,
    NDeath,
    QoS,
    Topic,
)

# pysparkplug's bundled Tahu schema (protobuf): what was on the wire before the Client filled
# names and datatypes in from the birth, and whether an NDEATH carried a `seq` (pysparkplug's
# NDeath does not model it). Its typed classes cannot say: a metric without a datatype does not
# decode without its birth.
from pysparkplug._protobuf import Payload as RawPayload

PROBE_DEVICE = "interop-host-probe"
_print_lock = threading.Lock()
_ready = threading.Event()


def emit(obj: dict) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def plain(value):
    """A JSON-safe value: NaN and infinities become strings, so the test sees them as wrong."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def metric_json(m: Metric, wire) -> dict:
    """`m` as pysparkplug decoded it; `wire`: the same metric as raw protobuf (or None)."""
    return {
        "name": m.name,
        "alias": m.alias,
        "datatype": DataType(m.datatype).name,
        "value": plain(m.value),
        "is_historical": m.is_historical,
        "is_null": m.is_null,
        "timestamp": m.timestamp,
        "wire_name": wire is not None and wire.HasField("name"),
        "wire_datatype": wire is not None and wire.datatype != DataType.UNKNOWN,
    }


class Host(Client):
    """pysparkplug's Client, printing every message it hands to a subscriber.

    `_handle_message` is the Client's own step that decodes a message against the cached birth
    (and caches births). It is wrapped, not replaced: the decode stays pysparkplug's. The wrap
    adds the raw bytes' view (which fields were on the wire) and turns a decode failure into an
    "error" line instead of an exception that would end paho's network thread silently.
    """

    def _handle_message(self, mqtt_message):
        try:
            if Topic.from_str(mqtt_message.topic).message_type == MessageType.NCMD:
                # Our own commands, echoed by the broker. Not through the Client: it would
                # decode them against the NBIRTH (same cache key), where an unknown command
                # has no datatype to fill in, and without a datatype they do not decode.
                wire = RawPayload.FromString(mqtt_message.payload)
                emit({"event": "message", "type": "NCMD", "device": None,
                      "wire_seq": wire.HasField("seq"), "seq": None, "timestamp": wire.timestamp,
                      "metrics": [{"name": w.name, "wire_datatype": w.datatype != 0}
                                  for w in wire.metrics]})
                return None
            message = super()._handle_message(mqtt_message)
            report(message, mqtt_message.payload)
            return message
        except Exception as e:  # noqa: BLE001 — any decode failure is the test's evidence
            emit({"event": "error", "topic": mqtt_message.topic, "error": repr(e)})
            return None


def report(message: Message, raw: bytes) -> None:
    topic, payload = message.topic, message.payload
    kind = str(topic.message_type)
    if kind == MessageType.DCMD and topic.device_id == PROBE_DEVICE:
        _ready.set()
        return
    wire = RawPayload.FromString(raw)
    line = {"event": "message", "type": kind, "device": topic.device_id,
            "wire_seq": wire.HasField("seq")}
    if isinstance(payload, NDeath):
        line["seq"] = None
        # pysparkplug 0.6.1's NDeath.decode tests HasField("timestamp") the wrong way round
        # (None when present), so the timestamp is taken from the protobuf.
        line["timestamp"] = wire.timestamp if wire.HasField("timestamp") else None
        line["metrics"] = [metric_json(payload.bd_seq_metric, wire.metrics[0])]
    else:
        line["seq"] = getattr(payload, "seq", None)
        line["timestamp"] = getattr(payload, "timestamp", None)
        metrics = getattr(payload, "metrics", ())
        line["metrics"] = [metric_json(m, w) for m, w in zip(metrics, wire.metrics)]
    emit(line)


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    port, group, node = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    host = Host(client_id=f"interop-host-{port}-{int(time.time() * 1000) % 100000}")
    host.subscribe(
        Topic(group_id=group, message_type=psp.MULTI_LEVEL_WILDCARD),
        QoS.AT_LEAST_ONCE,
        lambda _client, _message: None,  # Host._handle_message has printed it
    )
    host.connect("127.0.0.1", port=port, blocking=False)

    # Ready once a message of ours came back through the broker: the subscription is live.
    probe = Message(
        topic=Topic(group_id=group, message_type=MessageType.DCMD,
                    edge_node_id=node, device_id=PROBE_DEVICE),
        payload=DCmd(timestamp=psp.get_current_timestamp(), metrics=()),
        qos=QoS.AT_LEAST_ONCE,
        retain=False,
    )
    for _ in range(100):
        try:
            host.publish(probe)
        except Exception:  # noqa: BLE001 — not connected yet: try again
            pass
        if _ready.wait(0.2):
            break
    else:
        emit({"event": "error", "topic": None, "error": "probe never came back"})
        return 1
    emit({"event": "ready"})

    ncmd = Topic(group_id=group, message_type=MessageType.NCMD, edge_node_id=node)
    names = {"rebirth": "Node Control/Rebirth", "unknown": "Node Control/Reboot"}
    for command in sys.stdin:
        command = command.strip()
        if command not in names:
            emit({"event": "error", "topic": None, "error": f"unknown command {command!r}"})
            continue
        now = psp.get_current_timestamp()
        cmd = NCmd(timestamp=now, metrics=(
            Metric(timestamp=now, name=names[command], datatype=DataType.BOOLEAN, value=True),
        ))
        host.publish(Message(topic=ncmd, payload=cmd, qos=QoS.AT_LEAST_ONCE, retain=False))
        emit({"event": "sent", "command": command})
    host.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
