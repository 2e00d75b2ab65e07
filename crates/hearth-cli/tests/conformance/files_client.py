#!/usr/bin/env python3
"""An independent Hearth file client, written from docs/protocol.md (§3.10, §15) alone:
join over the WebSocket for the room's file grant, upload a file in two parts over
HTTP/1.1 on the same pinned TLS port (asking where the upload stands in between, as a
resumed upload does), send a message carrying it, and download it back with a Range.

    files_client.py INVITE_URL FILE

Prints one JSON line per step; exits non-zero on anything unexpected.
"""
import asyncio, hashlib, http.client, json, os, ssl, sys, uuid
from urllib.parse import urlparse, parse_qs

import websockets


def say(**kv):
    print(json.dumps(kv), flush=True)


def fail(step, **kv):
    say(step=step, ok=False, **kv)
    sys.exit(3)


class Files:
    """HTTP/1.1 to the host's file endpoints, on a connection pinned to its certificate."""

    def __init__(self, host, port, ctx, pinned, room, token):
        self.c = http.client.HTTPSConnection(host, port, context=ctx)
        self.c.connect()
        der = self.c.sock.getpeercert(binary_form=True)
        if hashlib.sha256(der).hexdigest() != pinned:
            fail("tls-files")
        self.room, self.auth = room, {"Authorization": f"Bearer {token}"}

    def call(self, method, path, body=None, headers=None):
        self.c.request(method, f"/files/v1/rooms/{self.room}/{path}", body=body,
                       headers={**self.auth, **(headers or {})})
        r = self.c.getresponse()
        return r, r.read()


async def main():
    link = urlparse(sys.argv[1])  # hearth://HOST:PORT/ROOM#fp=HEX (§13)
    room = link.path.strip("/")
    pinned = parse_qs(link.fragment)["fp"][0].replace(":", "").lower()
    data = open(sys.argv[2], "rb").read()
    file_id = hashlib.sha256(data).hexdigest()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # trust is the pinned fingerprint, checked below

    async with websockets.connect(f"wss://{link.hostname}:{link.port}/", ssl=ctx, max_size=None) as ws:
        der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        if hashlib.sha256(der).hexdigest() != pinned:
            fail("tls")
        await ws.send(json.dumps({"type": "hello", "payload": {
            "protocol": 1, "user_id": str(uuid.uuid4()), "name": "Files conformance",
            "capabilities": ["relations", "files"]}}))
        w = json.loads(await ws.recv())
        if w["type"] != "welcome" or "files" not in w["payload"].get("capabilities", []):
            fail("hello", got=w)
        await ws.send(json.dumps({"type": "join", "payload": {"room_id": room}}))
        while True:
            f = json.loads(await ws.recv())
            if f["type"] == "joined":
                grant = f["payload"]["files"]
                break
        say(step="join", ok=True, max_file_bytes=grant["max_file_bytes"])

        files = Files(link.hostname, link.port, ctx, pinned, room, grant["token"])
        r, body = files.call("POST", "uploads", json.dumps({"file_id": file_id, "size": len(data)}),
                             {"Content-Type": "application/json"})
        if r.status != 201:
            fail("create", status=r.status, body=body.decode())
        upload = json.loads(body)["upload_id"]
        half = len(data) // 2
        r, body = files.call("PATCH", f"uploads/{upload}", data[:half], {
            "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        if r.status != 204 or int(r.getheader("Upload-Offset")) != half:
            fail("first-part", status=r.status)
        # As after a dropped link: ask where the upload stands, go on from there.
        r, _ = files.call("HEAD", f"uploads/{upload}")
        offset = int(r.getheader("Upload-Offset"))
        r, body = files.call("PATCH", f"uploads/{upload}", data[offset:], {
            "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        if r.status != 204 or int(r.getheader("Upload-Offset")) != len(data):
            fail("rest", status=r.status, body=body.decode())
        say(step="upload", ok=True, file_id=file_id, resumed_at=offset)

        name = os.path.basename(sys.argv[2])
        await ws.send(json.dumps({"type": "send", "payload": {
            "room_id": room, "client_msg_id": "files-conf-1", "text": "from the conformance client",
            "attachments": [{"file_id": file_id, "name": name, "size": len(data),
                             "mime": "application/octet-stream"}]}}))
        while True:
            f = json.loads(await ws.recv())
            if f["type"] == "ack" and f["payload"]["client_msg_id"] == "files-conf-1":
                say(step="send", ok=True, seq=f["payload"]["seq"])
                break
            if f["type"] == "error":
                fail("send", code=f["payload"]["code"])

        start = len(data) - 1000
        r, body = files.call("GET", f"files/{file_id}", headers={"Range": f"bytes={start}-"})
        if r.status != 206 or body != data[start:]:
            fail("range", status=r.status)
        r, body = files.call("GET", f"files/{file_id}")
        if r.status != 200 or hashlib.sha256(body).hexdigest() != file_id:
            fail("download", status=r.status)
        r, body = files.call("GET", f"files/{'0' * 64}")
        say(step="download", ok=True, range_status=206, missing_status=r.status,
            missing_code=json.loads(body)["code"])


asyncio.run(main())
