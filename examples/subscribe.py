#!/usr/bin/env python3
"""A first myostream subscriber in Python: prints one node's poses with the joint names.

    python3 examples/subscribe.py [--host localhost] [--port 1883] [--node +] [--count 0]

Needs paho-mqtt (Debian: apt-get install python3-paho-mqtt; or pip install paho-mqtt); works
with paho-mqtt 1.x and 2.x. It subscribes to the retained meta (the joint names, in angle
order) and status, then to the poses, and prints a few poses a second. --count N exits 0 after
N poses; --seconds S exits 1 if they have not come within S seconds of silence.

Angles are radians, 0 = the rest pose (docs/mqtt.md, "Angles: units and signs"): flexion
(*_FE) positive toward the palm, finger abduction (*_MCP_AA) positive toward the thumb.
"""
import argparse
import json
import sys
import time

import paho.mqtt.client as mqtt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--node", default="+", help="node_id, or + for every node")
    ap.add_argument("--count", type=int, default=0, help="exit after this many poses (0: never)")
    ap.add_argument("--seconds", type=float, default=0, help="exit 1 after this long without a pose (0: never)")
    a = ap.parse_args()

    joints: dict = {}  # node_id -> joint names from its retained meta
    state = {"poses": 0, "last_print": 0.0, "last_pose": time.monotonic()}

    def on_connect(client, userdata, flags, rc, properties=None):
        base = f"myostream/{a.node}"
        client.subscribe([(f"{base}/meta", 1), (f"{base}/status", 1), (f"{base}/pose", 0)])
        print(f"connected to {a.host}:{a.port}; subscribed to {base}/pose, meta, status", flush=True)

    def on_message(client, userdata, msg):
        try:
            m = json.loads(msg.payload)
        except ValueError:
            return
        node = msg.topic.split("/")[1]
        kind = msg.topic.rsplit("/", 1)[-1]
        if kind == "meta":
            joints[node] = m["joints"]
        elif kind == "status":
            print(f"status {node}: {m['state']} {m.get('mode', '')}", flush=True)
        elif kind == "pose":
            state["poses"] += 1
            state["last_pose"] = time.monotonic()
            now = time.monotonic()
            if now - state["last_print"] >= 0.5 or state["poses"] == a.count:
                state["last_print"] = now
                names = joints.get(node) or [f"angle{i}" for i in range(len(m["angles"]))]
                shown = ", ".join(f"{n}={v:+.3f}" for n, v in list(zip(names, m["angles"]))[:4] if v is not None)
                print(f"pose {node} seq={m['seq']} mode={m['mode']} age_ms={m['age_ms']} quality={m['quality']} {shown} … rad", flush=True)
            if a.count and state["poses"] >= a.count:
                client.disconnect()

    # paho-mqtt 2 asks which callback signature the program uses; 1.x has no such argument.
    if hasattr(mqtt, "CallbackAPIVersion"):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    else:
        client = mqtt.Client()
    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(a.host, a.port, keepalive=30)
    except OSError as e:
        print(f"subscribe.py: cannot reach the broker at {a.host}:{a.port}: {e}", file=sys.stderr)
        return 2
    client.loop_start()
    try:
        # paho reconnects by itself; this loop only decides when to stop.
        while not (a.count and state["poses"] >= a.count):
            if a.seconds and time.monotonic() - state["last_pose"] > a.seconds:
                print(f"subscribe.py: no pose for {a.seconds} s", file=sys.stderr)
                return 1
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
