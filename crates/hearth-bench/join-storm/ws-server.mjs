// A plain `ws` chat room server: what any room server does on a join, and nothing more.
// Frames are Hearth-shaped JSON ({"type", "payload"}) so the same client code reads them:
//   join   {room_id, user_id, name} -> joined {room: {room_id, online}, members: [...]}
//   and presence {room_id, event: "join", member, online} to the room's other members.
// No hello, persistence, history or limits. Usage: node ws-server.mjs --rooms 100
import { WebSocketServer } from 'ws';
import { argValue, ready, roomIds, stopOnStdinEnd } from './common.mjs';

// --no-presence (a diagnostic, not a chat server): what the presence fan-out costs.
const announce = !process.argv.includes('--no-presence');

const ids = roomIds();
// room id -> Map(socket -> member): membership sets with what joined/presence report.
const rooms = new Map(ids.map((id) => [id, new Map()]));

const wss = new WebSocketServer({
  host: argValue('--host', '127.0.0.1'),
  port: 0,
  backlog: 4096, // as hearth-bench serve: the storm opens hundreds at once
  perMessageDeflate: false, // Hearth negotiates no extensions either
  clientTracking: false, // we track members ourselves
});

function presence(roomId, room, event, member) {
  return JSON.stringify({
    type: 'presence',
    payload: { room_id: roomId, event, member, online: room.size },
  });
}

wss.on('connection', (ws) => {
  const mine = []; // rooms this socket joined, to leave them on close
  ws.on('message', (data, isBinary) => {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      ws.close(1007, 'bad json');
      return;
    }
    if (frame?.type !== 'join') return;
    const p = frame.payload ?? {};
    const room = rooms.get(p.room_id);
    if (!room) {
      ws.send(JSON.stringify({ type: 'error', payload: { code: 'unknown_room', request: 'join' } }));
      return;
    }
    const fresh = !room.has(ws);
    const member = { user_id: String(p.user_id), name: String(p.name) };
    if (fresh) {
      room.set(ws, member);
      mine.push(p.room_id);
    }
    ws.send(
      JSON.stringify({
        type: 'joined',
        payload: { room: { room_id: p.room_id, online: room.size }, members: [...room.values()] },
      }),
    );
    if (fresh && announce) {
      // Encoded once, sent to every other member: a broadcast as ws apps write it.
      const out = presence(p.room_id, room, 'join', member);
      for (const other of room.keys()) if (other !== ws) other.send(out);
    }
  });
  ws.on('close', () => {
    for (const id of mine) {
      const room = rooms.get(id);
      const member = room.get(ws);
      room.delete(ws);
      const out = presence(id, room, 'leave', member);
      for (const other of room.keys()) other.send(out);
    }
  });
  ws.on('error', () => {});
});

wss.on('listening', () => ready(wss.address().port, ids));
stopOnStdinEnd();
