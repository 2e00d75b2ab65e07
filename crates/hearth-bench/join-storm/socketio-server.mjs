// A Socket.IO chat room server, websocket transport only: the same semantics as
// ws-server.mjs with Socket.IO's own rooms (socket.join) and broadcast (socket.to(room)).
//   emit('join', {room_id, user_id, name}, ack) -> ack({room: {room_id, online}, members})
//   and 'presence' {room_id, event: "join", member, online} to the room's other members.
// Usage: node socketio-server.mjs --rooms 100
import http from 'node:http';
import { Server } from 'socket.io';
import { argValue, ready, roomIds, stopOnStdinEnd } from './common.mjs';

// --no-presence (a diagnostic, not a chat server): what the presence fan-out costs.
const announce = !process.argv.includes('--no-presence');

const ids = roomIds();
// Socket.IO's rooms hold socket ids only; the member list (user id, name) is ours.
const members = new Map(ids.map((id) => [id, new Map()]));

const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ['websocket'], // no long-polling upgrade dance
  perMessageDeflate: false,
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.on('join', (p, ack) => {
    if (typeof ack !== 'function') return;
    const room = members.get(p?.room_id);
    if (!room) {
      ack({ error: 'unknown_room' });
      return;
    }
    const fresh = !room.has(socket.id);
    const member = { user_id: String(p.user_id), name: String(p.name) };
    if (fresh) {
      room.set(socket.id, member);
      socket.join(p.room_id);
    }
    ack({ room: { room_id: p.room_id, online: room.size }, members: [...room.values()] });
    if (fresh && announce) {
      socket
        .to(p.room_id)
        .emit('presence', { room_id: p.room_id, event: 'join', member, online: room.size });
    }
  });
  socket.on('disconnecting', () => {
    for (const id of socket.rooms) {
      const room = members.get(id);
      if (!room) continue; // the socket's own id room
      const member = room.get(socket.id);
      room.delete(socket.id);
      socket.to(id).emit('presence', { room_id: id, event: 'leave', member, online: room.size });
    }
  });
});

httpServer.listen({ host: argValue('--host', '127.0.0.1'), port: 0, backlog: 4096 }, () =>
  ready(httpServer.address().port, ids),
);
stopOnStdinEnd();
