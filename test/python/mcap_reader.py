"""Reads an MCAP log written by `edge-agent start --record-mcap` with PyPI `mcap` and prints one JSON object:
channels (topic, schema name, encodings, message count), first / last log time per topic and overall, whether log
times increase per topic in file order, the file's metadata records, one decoded CompressedImage per camera (JPEG
magic, size via Pillow) and one joint-state, gate-decision and chunk message.
With `--series`: every tick's gate decision with the joint positions of the same tick, as a JSON list.

usage: mcap_reader.py <file.mcap>

A file with a footer is read with the indexed (seeking) reader. One without (a killed writer) is read record by
record with the stream reader up to the first incomplete record: `"complete": false` then, and `"error"` says where
it stopped.
"""

import base64
import io
import json
import sys

from mcap.exceptions import McapError
from mcap.reader import SeekingReader
from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader


def summarize(records, complete, error):
    schemas = {}
    channels = {}
    per_topic = {}
    metadata = {}
    samples = {}
    for rec in records:
        if isinstance(rec, Schema):
            schemas[rec.id] = rec
        elif isinstance(rec, Channel):
            channels[rec.id] = rec
        elif isinstance(rec, Metadata):
            metadata[rec.name] = dict(rec.metadata)
        elif isinstance(rec, Message):
            ch = channels[rec.channel_id]
            t = per_topic.setdefault(
                ch.topic, {"count": 0, "first_log_time": None, "last_log_time": None, "monotonic": True}
            )
            if t["last_log_time"] is not None and rec.log_time < t["last_log_time"]:
                t["monotonic"] = False
            t["count"] += 1
            if t["first_log_time"] is None:
                t["first_log_time"] = rec.log_time
            t["last_log_time"] = rec.log_time
            if ch.topic not in samples:
                samples[ch.topic] = json.loads(rec.data)
    out_channels = []
    for ch in channels.values():
        schema = schemas.get(ch.schema_id)
        out_channels.append(
            {
                "topic": ch.topic,
                "schema": schema.name if schema else None,
                "schema_encoding": schema.encoding if schema else None,
                "message_encoding": ch.message_encoding,
                "count": per_topic.get(ch.topic, {}).get("count", 0),
            }
        )
    images = {}
    for topic, msg in samples.items():
        if not topic.startswith("/camera/"):
            continue
        data = base64.b64decode(msg["data"])
        info = {"format": msg["format"], "frame_id": msg["frame_id"], "bytes": len(data), "jpeg_magic": data[:3].hex()}
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                info["size"] = [im.width, im.height]
                info["mode"] = im.mode
        except Exception as e:  # noqa: BLE001 - reported to the test
            info["decode_error"] = str(e)
        images[topic] = info
    times = [t for v in per_topic.values() for t in (v["first_log_time"], v["last_log_time"]) if t is not None]
    return {
        "complete": complete,
        "error": error,
        "channels": sorted(out_channels, key=lambda c: c["topic"]),
        "topics": per_topic,
        "first_log_time": min(times) if times else None,
        "last_log_time": max(times) if times else None,
        "metadata": metadata,
        "images": images,
        "joint_state": samples.get("/joint_states"),
        "decision": samples.get("/safety/decision"),
        "chunk": samples.get("/policy/chunk"),
        "timing": samples.get("/loop/timing"),
        "faults": samples.get("/safety/faults"),
        "estop": samples.get("/safety/estop"),
    }


def records_of_indexed(path):
    with open(path, "rb") as f:
        reader = SeekingReader(f)
        summary = reader.get_summary()
        if summary is None:
            raise McapError("no summary")
        recs = list(summary.schemas.values()) + list(summary.channels.values())
        for m in reader.iter_metadata():
            recs.append(Metadata(name=m.name, metadata=m.metadata))
        # File order within the data section, so that "monotonic" checks what was written.
        for _schema, _channel, message in reader.iter_messages(log_time_order=False):
            recs.append(message)
        return recs


def records_of_stream(path):
    recs = []
    error = None
    with open(path, "rb") as f:
        try:
            for rec in StreamReader(f, skip_magic=False, emit_chunks=False).records:
                recs.append(rec)
        except Exception as e:  # noqa: BLE001 - a truncated file ends in an incomplete record
            error = f"{type(e).__name__}: {e}"
    return recs, error


def series(path):
    """Per tick, in file order: the gate decision's episode, step, kind and command, and the joint positions logged
    at the same time (the same tick), or None."""
    out = []
    joints = None
    with open(path, "rb") as f:
        reader = SeekingReader(f)
        for _schema, channel, message in reader.iter_messages(log_time_order=False):
            if channel.topic == "/joint_states":
                body = json.loads(message.data)
                joints = (message.log_time, [j["position"] for j in body["joints"]])
            elif channel.topic == "/safety/decision":
                body = json.loads(message.data)
                positions = joints[1] if joints is not None and joints[0] == message.log_time else None
                out.append(
                    {
                        "episode": body["episode"],
                        "step": body["step"],
                        "decision": body["decision"],
                        "command": body["command"],
                        "positions": positions,
                    }
                )
    return out


def main():
    path = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "--series":
        print(json.dumps(series(path)))
        return
    try:
        recs = records_of_indexed(path)
        print(json.dumps(summarize(recs, True, None)))
    except Exception as e:  # noqa: BLE001
        recs, error = records_of_stream(path)
        print(json.dumps(summarize(recs, False, error or f"indexed read failed: {type(e).__name__}: {e}")))


if __name__ == "__main__":
    main()
