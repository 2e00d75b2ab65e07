// The UI's live state: what the core has told us, kept current by its events. Pure
// transitions live in ./state (unit-tested); this module wires them to the IPC.
import type { AppEvent } from "../bindings/AppEvent";
import type { ChatMessage } from "../bindings/ChatMessage";
import type { Connection } from "../bindings/Connection";
import type { DiscoveredView } from "../bindings/DiscoveredView";
import type { HostedView } from "../bindings/HostedView";
import type { Member } from "../bindings/Member";
import type { Profile } from "../bindings/Profile";
import type { RoomView } from "../bindings/RoomView";
import type { Settings } from "../bindings/Settings";
import { tick } from "svelte";
import { errorText, ipc } from "./ipc";
import { mergeMessages } from "./state/messages";
import * as outbox from "./state/outbox";
import { setTyping, type TypingMap } from "./state/typing";
import * as unread from "./state/unread";

export const PAGE = 100;

export interface JoinProblem {
  message: string;
  retryAfterMs: number | null;
  code: string;
}

export interface MismatchWarning {
  address: string;
  rooms: string[];
  expected: string;
  presented: string;
}

class AppState {
  ready = $state(false);
  profile = $state<Profile | null>(null);
  settings = $state<Settings>({ notifications: true, theme: "system" });
  rooms = $state<RoomView[]>([]);
  discovered = $state<DiscoveredView[]>([]);
  hosted = $state<HostedView[]>([]);
  active = $state<string | null>(null);
  messages = $state<Record<string, ChatMessage[]>>({});
  atStart = $state<Record<string, boolean>>({});
  outbox = $state<outbox.OutboxItem[]>([]);
  private settled = new outbox.Settled();
  members = $state<Record<string, Member[]>>({});
  typing = $state<TypingMap>({});
  unread = $state<Record<string, number>>({});
  connections = $state<Record<string, Connection>>({});
  /** When each room's connection state was last reported (for "next try in N s"). */
  connectionSince = $state<Record<string, number>>({});
  /** A join the user started: room id ("" for a bare address) -> outcome. */
  joining = $state<Record<string, "pending" | JoinProblem>>({});
  mismatches = $state<MismatchWarning[]>([]);
  /** Rooms a `joined` event arrived for in this session (a join can outrun its command). */
  joinedNow = $state<Record<string, boolean>>({});
  toast = $state<string | null>(null);
  now = $state(Date.now());
  focused = $state(true);
  /** Set when a new message arrives for the open room while scrolled up. */
  newBelow = $state(false);

  private roomsTimer: ReturnType<typeof setTimeout> | null = null;
  /** HEARTH_PERF=1: render timings go to the shell's log (docs/performance.md). */
  perf = false;

  private mark(name: string, started: number) {
    if (!this.perf) return;
    // After the DOM update and the next frame: what the user actually sees.
    void tick().then(() =>
      requestAnimationFrame(() => void ipc.uiMark(name, performance.now() - started).catch(() => {})),
    );
  }

  async start() {
    await ipc.subscribe((e) => this.onEvent(e));
    const [profile, settings, rooms, discovered, hosted] = await Promise.all([
      ipc.profile(),
      ipc.settings(),
      ipc.rooms(),
      ipc.discovered(),
      ipc.hosted(),
    ]);
    this.profile = profile;
    this.settings = settings;
    this.setRooms(rooms);
    this.discovered = discovered;
    this.hosted = hosted;
    for (const r of rooms) this.unread[r.room_id] = r.unread;
    this.ready = true;
    this.syncTitle();
    setInterval(() => (this.now = Date.now()), 1000);
  }

  private setRooms(rooms: RoomView[]) {
    this.rooms = rooms;
    for (const r of rooms) this.connections[r.room_id] = r.connection;
  }

  /** Several events in a burst cause one refresh of "Your rooms". */
  refreshRooms(delay = 150) {
    if (this.roomsTimer) return;
    this.roomsTimer = setTimeout(async () => {
      this.roomsTimer = null;
      try {
        this.setRooms(await ipc.rooms());
      } catch (e) {
        this.say(errorText(e));
      }
    }, delay);
  }

  room(id: string | null): RoomView | undefined {
    return id ? this.rooms.find((r) => r.room_id === id) : undefined;
  }

  say(text: string) {
    this.toast = text;
    setTimeout(() => {
      if (this.toast === text) this.toast = null;
    }, 6000);
  }

  syncTitle() {
    const title = unread.windowTitle(this.unread);
    document.title = title;
    void ipc.setUnread(unread.total(this.unread)).catch(() => {});
  }

  async open(roomId: string) {
    const started = performance.now();
    this.active = roomId;
    this.newBelow = false;
    await this.reload(roomId);
    this.mark("open-room", started);
    this.members[roomId] = await ipc.members(roomId).catch(() => []);
    this.readAll(roomId);
  }

  /** Re-reads the newest page from the cache and the pending outbox. */
  async reload(roomId: string) {
    try {
      const page = await ipc.messages(roomId, null, PAGE);
      this.messages[roomId] = mergeMessages(this.messages[roomId] ?? [], page.messages);
      const oldest = this.messages[roomId]?.[0]?.seq ?? 1;
      this.atStart[roomId] = page.at_start || oldest <= 1;
      this.outbox = outbox.syncPending(this.outbox, roomId, page.pending, this.settled);
    } catch (e) {
      this.say(errorText(e));
    }
  }

  /** Older history: the cache first; the core asks the host when the cache runs out. */
  async loadOlder(roomId: string): Promise<boolean> {
    const list = this.messages[roomId] ?? [];
    const oldest = list[0]?.seq ?? null;
    if (this.atStart[roomId] || oldest === null) return false;
    const page = await ipc.messages(roomId, oldest, PAGE);
    this.messages[roomId] = mergeMessages(list, page.messages);
    this.atStart[roomId] = page.at_start;
    return page.messages.length > 0;
  }

  readAll(roomId: string) {
    const last = this.messages[roomId]?.at(-1);
    this.unread = unread.markRead(this.unread, roomId);
    this.syncTitle();
    if (last) void ipc.markRead(roomId, last.seq).catch(() => {});
  }

  isInView(roomId: string): boolean {
    return this.active === roomId && this.focused && !this.newBelow;
  }

  async send(roomId: string, text: string) {
    try {
      const p = await ipc.send(roomId, text);
      this.outbox = outbox.add(this.outbox, p, this.settled);
    } catch (e) {
      this.say(errorText(e));
    }
  }

  async retry(item: outbox.OutboxItem) {
    try {
      const p = await ipc.send(item.room_id, item.text);
      this.outbox = outbox.retried(this.outbox, item.client_msg_id, p, this.settled);
    } catch (e) {
      this.say(errorText(e));
    }
  }

  onEvent(e: AppEvent) {
    switch (e.type) {
      case "message": {
        const started = performance.now();
        const m = e.message;
        const loaded = this.messages[m.room_id];
        if (loaded) this.messages[m.room_id] = mergeMessages(loaded, [m]);
        if (loaded && this.active === m.room_id) this.mark("append-message", started);
        this.settled.add(m.client_msg_id);
        this.outbox = outbox.acked(this.outbox, m.client_msg_id);
        const mine = m.user_id === this.profile?.user_id;
        const inView = this.isInView(m.room_id);
        const readSeq = this.room(m.room_id)?.read_seq ?? 0;
        this.unread = unread.onMessage(this.unread, m, this.profile?.user_id ?? "", readSeq, inView);
        if (inView) this.readAll(m.room_id);
        else if (this.active === m.room_id && !mine) this.newBelow = true;
        if (!mine && !inView && this.settings.notifications && m.seq > readSeq) {
          const room = this.room(m.room_id)?.name ?? "Hearth";
          void ipc.notify(`${m.author} in ${room}`, m.text.slice(0, 200)).catch(() => {});
        }
        this.syncTitle();
        this.refreshRooms(400);
        break;
      }
      case "ack":
        this.settled.add(e.client_msg_id);
        this.outbox = outbox.acked(this.outbox, e.client_msg_id);
        break;
      case "send_failed":
        this.outbox = outbox.failed(this.outbox, e.client_msg_id, e.message);
        break;
      case "presence": {
        const list = (this.members[e.room_id] ?? []).filter((m) => m.user_id !== e.member.user_id);
        if (e.event !== "leave" && e.event !== "timeout") list.push(e.member);
        list.sort((a, b) => a.name.localeCompare(b.name));
        this.members[e.room_id] = list;
        if (e.event === "leave" || e.event === "timeout")
          this.typing = setTyping(this.typing, e.room_id, e.member, false, Date.now());
        this.refreshRooms();
        break;
      }
      case "typing":
        this.typing = setTyping(this.typing, e.room_id, e.member, e.active, Date.now());
        break;
      case "joined": {
        const id = e.room.room_id;
        this.joinedNow[id] = true;
        this.members[id] = e.members;
        const wasJoining = this.joining[id] === "pending" || this.joining[""] === "pending";
        delete this.joining[id];
        delete this.joining[""];
        this.refreshRooms(0);
        if (wasJoining) void this.open(id);
        else if (this.active === id) void this.reload(id);
        break;
      }
      case "synced":
        if (this.active === e.room_id) void this.reload(e.room_id);
        this.refreshRooms();
        break;
      case "join_failed": {
        const key = e.room_id ?? "";
        this.joining[key] = { message: e.message, retryAfterMs: e.retry_after_ms, code: e.code };
        if (e.room_id && this.joining[""] === "pending") this.joining[""] = this.joining[key];
        break;
      }
      case "connection":
        for (const r of e.rooms) {
          this.connections[r] = e.connection;
          this.connectionSince[r] = Date.now();
          // Who is online is only known while connected; `joined` brings the list back.
          if (e.connection.state !== "connected" && e.connection.state !== "connecting") this.members[r] = [];
        }
        this.refreshRooms();
        break;
      case "history_loaded":
        if (this.active === e.room_id) void this.loadOlder(e.room_id);
        break;
      case "discovery":
        this.discovered = e.rooms;
        break;
      case "hosting":
        this.hosted = e.rooms;
        this.refreshRooms(0);
        break;
      case "fingerprint_mismatch":
        this.mismatches = [...this.mismatches, e];
        for (const r of e.rooms) this.joining[r] = { message: "The host's certificate changed", retryAfterMs: null, code: "fingerprint" };
        break;
      case "error":
        this.say(e.message);
        break;
    }
  }
}

export const app = new AppState();
