#!/usr/bin/env python3
"""An independent Hearth client, written from docs/protocol.md (§2, §3.7, §4, §5) alone:
TLS pinned by fingerprint, a hello proving an Ed25519 key, a join and a send.

    identity_client.py INVITE_URL [impostor-of USER_ID]

Prints one JSON line per step; exits non-zero on anything unexpected.
"""
import asyncio, hashlib, json, ssl, sys, uuid
from urllib.parse import urlparse, parse_qs

import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def user_id_for(public_key: bytes) -> uuid.UUID:
    d = bytearray(hashlib.sha256(b"hearth-user-id-v1" + public_key).digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x80  # version 8
    d[8] = (d[8] & 0x3F) | 0x80  # RFC variant
    return uuid.UUID(bytes=bytes(d))


def identity_code(u: uuid.UUID) -> str:
    v = u.int
    packed = (v >> 80) << 74 | ((v >> 64) & 0xFFF) << 62 | (v & ((1 << 62) - 1))
    bits = packed >> (122 - 80)
    c = "".join(CROCKFORD[(bits >> (75 - 5 * i)) & 31] for i in range(16))
    return "-".join(c[i : i + 4] for i in range(0, 16, 4))


def say(**kv):
    print(json.dumps(kv), flush=True)


async def main():
    link = urlparse(sys.argv[1])  # hearth://HOST:PORT/ROOM#fp=HEX (§13)
    room = link.path.strip("/")
    pinned = parse_qs(link.fragment)["fp"][0].replace(":", "").lower()
    impostor_of = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "impostor-of" else None

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # trust is the pinned fingerprint, checked below
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    me = user_id_for(public)
    claimed = uuid.UUID(impostor_of) if impostor_of else me

    async with websockets.connect(f"wss://{link.hostname}:{link.port}/", ssl=ctx) as ws:
        der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        presented = hashlib.sha256(der).hexdigest()
        if presented != pinned:
            say(step="tls", ok=False, presented=presented)
            sys.exit(2)
        challenge = f"hearth-hello-v1\n{presented}\n{claimed}\n".encode()
        hello = {
            "type": "hello",
            "payload": {
                "protocol": 1,
                "user_id": str(claimed),
                "name": "Conformance",
                "capabilities": ["identity"],
                "identity": {"public_key": public.hex(), "signature": key.sign(challenge).hex()},
            },
        }
        await ws.send(json.dumps(hello))
        first = json.loads(await ws.recv())
        if first["type"] != "welcome":
            say(step="hello", ok=False, type=first["type"], code=first["payload"].get("code"))
            try:
                await ws.recv()
            except websockets.ConnectionClosed as c:
                say(step="close", code=c.code)
            sys.exit(3)
        w = first["payload"]
        say(step="hello", ok=True, verified=w.get("verified", False), user_id=str(me),
            code=identity_code(me), capabilities=w.get("capabilities", []))
        await ws.send(json.dumps({"type": "join", "payload": {"room_id": room}}))
        while True:
            f = json.loads(await ws.recv())
            if f["type"] == "joined":
                mine = [m for m in f["payload"]["members"] if m["user_id"] == str(me)]
                say(step="join", ok=True, verified=bool(mine and mine[0].get("verified")))
                break
        await ws.send(json.dumps({"type": "send", "payload": {
            "room_id": room, "client_msg_id": "conf-1", "text": "signed by my key 🔑"}}))
        while True:
            f = json.loads(await ws.recv())
            if f["type"] == "message" and f["payload"]["client_msg_id"] == "conf-1":
                say(step="send", ok=True, verified=f["payload"].get("verified", False),
                    seq=f["payload"]["seq"])
                break


asyncio.run(main())
