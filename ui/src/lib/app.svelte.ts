// The UI's live state: what the core has told us, kept current by its events. Pure
// transitions live in ./state (unit-tested); this module wires them to the IPC.
import type { TransferView } from "../bindings/TransferView";
import type { AppEvent } from "../bindings/AppEvent";
import type { ChatMessage } from "../bindings/ChatMessage";
import type { Connection } from "../bindings/Connection";
import type { DiscoveredView } from "../bindings/DiscoveredView";
import type { HostedView } from "../bindings/HostedView";
import type { Member } from "../bindings/Member";
import type { PersonView } from "../bindings/PersonView";
import type { Profile } from "../bindings/Profile";
import type { RoomAccess } from "../bindings/RoomAccess";
import type { RoomView } from "../bindings/RoomView";
import type { Settings } from "../bindings/Settings";
import type { Visibility } from "../bindings/Visibility";
import { tick } from "svelte";
import { errorText, ipc } from "./ipc";
import { DraftSaver, restoreDraft } from "./state/drafts";
import type { JoinProblem } from "./state/join";
import { isHistory, mergeMessages } from "./state/messages";
import { isAction, mentions } from "./state/relations";
import type { Relation } from "../bindings/Relation";
import type { NotifyLevel } from "../bindings/NotifyLevel";
import { NotifyCoalescer } from "./state/notify";
import * as outbox from "./state/outbox";
import { addPresence, type PresenceMap } from "./state/presence";
import { adjacentRoom } from "./state/switcher";
import { setTyping, type TypingMap } from "./state/typing";
import * as unread from "./state/unread";

export const PAGE = 100;
/** Older history is read from the cache a rendered step at a time. */
const OLDER_PAGE = 300;

export type { JoinProblem };

export interface MismatchWarning {
  address: string;
  rooms: string[];
  expected: string;
  presented: string;
}

class AppState {
  ready = $state(false);
  profile = $state<Profile | null>(null);
  settings = $state<Settings>({
    notifications: true,
    theme: "system",
    resume_hosting: true,
    background: false,
    start_at_login: false,
    room_notify: {},
    file_cache_bytes: 2 * 1024 * 1024 * 1024,
  });
  rooms = $state<RoomView[]>([]);
  discovered = $state<DiscoveredView[]>([]);
  hosted = $state<HostedView[]>([]);
  active = $state<string | null>(null);
  messages = $state<Record<string, ChatMessage[]>>({});
  atStart = $state<Record<string, boolean>>({});
  outbox = $state<outbox.OutboxItem[]>([]);
  private settled = new outbox.Settled();
  members = $state<Record<string, Member[]>>({});
  /** Everyone seen in each room, with identity codes and trust marks. */
  people = $state<Record<string, PersonView[]>>({});
  private peopleTimers = new Map<string, ReturnType<typeof setTimeout>>();
  typing = $state<TypingMap>({});
  unread = $state<Record<string, number>>({});
  /** Of the unread, those that mention me (shown apart in the room list). */
  mentionsUnread = $state<Record<string, number>>({});
  connections = $state<Record<string, Connection>>({});
  /** When each room's connection state was last reported (for "next try in N s"). */
  connectionSince = $state<Record<string, number>>({});
  /** A join the user started: room id ("" for a bare address) -> outcome. */
  joining = $state<Record<string, "pending" | JoinProblem>>({});
  mismatches = $state<MismatchWarning[]>([]);
  /** Rooms whose host's history went back in time: how many messages were set aside. */
  diverged = $state<Record<string, number>>({});
  /** Rooms whose "not on the host" notice was dismissed this session. */
  unhostedDismissed = $state<Record<string, boolean>>({});
  /** Rooms a `joined` event arrived for in this session (a join can outrun its command). */
  joinedNow = $state<Record<string, boolean>>({});
  toast = $state<string | null>(null);
  now = $state(Date.now());
  focused = $state(true);
  /** Set when a new message arrives for the open room while scrolled up. */
  newBelow = $state(false);
  /** The open room's message list is scrolled to its end (part of "in view"). */
  atBottom = $state(true);
  /** Composer text per room; saved through the core so it survives a restart. */
  drafts = $state<Record<string, string>>({});
  private draftSaver = new DraftSaver((roomId, text) => void ipc.setDraft(roomId, text).catch(() => {}));
  /** Live presence lines per room, for the timeline (memory only). */
  presence = $state<PresenceMap>({});
  private presenceSeq = 0;
  /** Bumped when the composer should take the focus (a room was opened or joined). */
  composerFocus = $state(0);
  /** The message the composer replies to, per room. */
  replyTo = $state<Record<string, number | null>>({});
  /** The message the composer edits, per room (its text is in the composer meanwhile). */
  editing = $state<Record<string, { seq: number; draft: string } | null>>({});
  /** A message to bring into view and highlight (a reply's original, a search hit). */
  focusSeq = $state<{ roomId: string; seq: number; n: number } | null>(null);
  private focusN = 0;
  /** The search panel is open. */
  searching = $state(false);
  /** File transfers by id, with when each started (for speed and time left). */
  transfers = $state<Record<number, TransferView & { startedAt: number; updatedAt: number }>>({});
  private notifier = new NotifyCoalescer((n) => void ipc.notify(n.title, n.body).catch(() => {}));

  private roomsTimer: ReturnType<typeof setTimeout> | null = null;
  /** HEARTH_PERF=1: render timings go to the shell's log (docs/performance.md). */
  perf = false;

  /** The open room's first message is on screen: how long the scroll up took. */
  reachedStart() {
    if (this.scrolledUpAt !== null) this.mark("scroll-to-start", this.scrolledUpAt);
    this.scrolledUpAt = null;
  }

  private mark(name: string, started: number) {
    if (!this.perf) return;
    // After the DOM update and the next frame: what the user actually sees.
    void tick().then(() =>
      requestAnimationFrame(() => void ipc.uiMark(name, performance.now() - started).catch(() => {})),
    );
  }

  async start() {
    await ipc.subscribe((e) => this.onEvent(e));
    const [profile, settings, rooms, discovered, hosted, transfers] = await Promise.all([
      ipc.profile(),
      ipc.settings(),
      ipc.rooms(),
      ipc.discovered(),
      ipc.hosted(),
      ipc.transfers(),
    ]);
    this.takeTransfers(transfers);
    this.profile = profile;
    this.settings = settings;
    this.setRooms(rooms);
    this.discovered = discovered;
    this.hosted = hosted;
    for (const r of rooms) {
      this.unread[r.room_id] = r.unread;
      this.mentionsUnread[r.room_id] = r.mentions;
    }
    this.ready = true;
    this.syncTitle();
    setInterval(() => (this.now = Date.now()), 1000);
  }

  private setRooms(rooms: RoomView[]) {
    this.rooms = rooms;
    for (const r of rooms) {
      this.connections[r.room_id] = r.connection;
      // The stored draft counts until the user types here; later refreshes lag behind typing.
      if (!(r.room_id in this.drafts)) this.drafts[r.room_id] = r.draft;
    }
  }

  /** One room's view changed (joined): replace it, or add it until the next refresh. */
  private upsertRoom(room: RoomView) {
    const known = this.rooms.some((r) => r.room_id === room.room_id);
    this.setRooms(known ? this.rooms.map((r) => (r.room_id === room.room_id ? room : r)) : [...this.rooms, room]);
  }

  private setAccess(roomId: string, access: RoomAccess) {
    const i = this.rooms.findIndex((r) => r.room_id === roomId);
    const r = this.rooms[i];
    if (r) this.rooms[i] = { ...r, access };
    // Out of the room (removed, refused): nobody in it is shown as online to us.
    if (access.state !== "ok") this.members[roomId] = [];
  }

  access(roomId: string | null): RoomAccess {
    return this.room(roomId)?.access ?? { state: "ok" };
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

  /** Sends files (paths from a drop or the picker) with the room's draft as caption. */
  async sendFiles(roomId: string, paths: string[]) {
    const caption = this.drafts[roomId] ?? "";
    try {
      await ipc.sendFiles(roomId, paths, caption.trim());
      this.setDraft(roomId, "");
    } catch (e) {
      this.say(errorText(e));
    }
  }

  dismissTransfer(id: number) {
    delete this.transfers[id];
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
    if (this.active && this.active !== roomId) this.draftSaver.flush(this.active);
    this.active = roomId;
    this.newBelow = false;
    this.atBottom = true;
    this.composerFocus++;
    await this.reload(roomId);
    this.mark("open-room", started);
    this.members[roomId] = await ipc.members(roomId).catch(() => []);
    this.loadPeople(roomId, 0);
    this.readAll(roomId);
  }

  /** Reads a room's people again, soon (several events in a row cost one read). */
  loadPeople(roomId: string, delayMs = 150) {
    if (this.peopleTimers.has(roomId)) return;
    this.peopleTimers.set(
      roomId,
      setTimeout(async () => {
        this.peopleTimers.delete(roomId);
        this.people[roomId] = await ipc.people(roomId).catch(() => this.people[roomId] ?? []);
      }, delayMs),
    );
  }

  person(roomId: string, userId: string): PersonView | undefined {
    return this.people[roomId]?.find((p) => p.user_id === userId);
  }

  /** Marks someone verified (or no longer), after comparing identity codes. */
  async setVerified(roomId: string, p: PersonView, verified: boolean) {
    try {
      await ipc.setVerified(p.user_id, p.name, verified);
      this.loadPeople(roomId, 0);
    } catch (e) {
      this.say(errorText(e));
    }
  }

  async removeMember(roomId: string, p: PersonView) {
    try {
      await ipc.removeMember(roomId, p.user_id);
      this.say(`${p.name} was removed from the room.`);
    } catch (e) {
      this.say(errorText(e));
    }
  }

  async setRoomPolicy(roomId: string, visibility: Visibility, membersOnly: boolean) {
    try {
      const view = await ipc.setRoomPolicy(roomId, visibility, membersOnly);
      this.hosted = this.hosted.map((h) => (h.room_id === roomId ? view : h));
    } catch (e) {
      this.say(errorText(e));
    }
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
    try {
      const page = await ipc.messages(roomId, oldest, OLDER_PAGE);
      this.messages[roomId] = mergeMessages(this.messages[roomId] ?? [], page.messages);
      this.atStart[roomId] = page.at_start;
      return page.messages.length > 0;
    } catch (e) {
      this.say(errorText(e));
      return false;
    }
  }

  readAll(roomId: string) {
    const last = this.messages[roomId]?.at(-1);
    if (this.active === roomId) this.newBelow = false;
    this.notifier.clear(roomId);
    this.unread = unread.markRead(this.unread, roomId);
    this.mentionsUnread = unread.markRead(this.mentionsUnread, roomId);
    this.syncTitle();
    if (last) void ipc.markRead(roomId, last.seq).catch(() => {});
  }

  /** The user sees the room's newest messages: it is open, the window has focus, the list is at its end. */
  isInView(roomId: string): boolean {
    return this.active === roomId && this.focused && this.atBottom;
  }

  /** The list reached (or left) its end; reaching it reads what is there. */
  /** When the reader left the end of the open room (HEARTH_PERF: "scroll-to-start"). */
  private scrolledUpAt: number | null = null;

  setAtBottom(roomId: string, atBottom: boolean) {
    if (this.active !== roomId || this.atBottom === atBottom) return;
    this.atBottom = atBottom;
    this.scrolledUpAt = atBottom ? null : performance.now();
    if (this.isInView(roomId)) this.readAll(roomId);
  }

  setFocused(focused: boolean) {
    this.focused = focused;
    // Leaving the window (or quitting) must not lose the last keystrokes of a draft.
    if (!focused) this.draftSaver.flushAll();
    else if (this.active && this.isInView(this.active) && (this.unread[this.active] ?? 0) > 0) this.readAll(this.active);
  }

  setDraft(roomId: string, text: string) {
    this.drafts[roomId] = text;
    // While editing, the composer holds the message being edited: the saved draft stays
    // what was typed before (it comes back on Esc, or after a restart).
    if (!this.editing[roomId]) this.draftSaver.change(roomId, text);
  }

  saveDrafts() {
    this.draftSaver.flushAll();
  }

  /**
   * Sends what the composer holds. The composer clears at once (typing stays snappy);
   * if the core refuses the message, the text comes back so nothing typed is lost.
   */
  async send(roomId: string, text: string): Promise<boolean> {
    this.drafts[roomId] = "";
    this.draftSaver.cancel(roomId);
    try {
      const p = await ipc.send(roomId, text);
      this.outbox = outbox.add(this.outbox, p, this.settled);
      this.draftSaver.saveNow(roomId, this.drafts[roomId] ?? "");
      return true;
    } catch (e) {
      this.setDraft(roomId, restoreDraft(this.drafts[roomId] ?? "", text));
      this.say(errorText(e));
      return false;
    }
  }

  /** A reply, an edit, a delete or a reaction (protocol §3.9), through the same outbox. */
  async act(roomId: string, text: string, relation: Relation): Promise<boolean> {
    try {
      const p = await ipc.send(roomId, text, relation);
      this.outbox = outbox.add(this.outbox, p, this.settled);
      return true;
    } catch (e) {
      this.say(errorText(e));
      return false;
    }
  }

  /** A room's notifications: all messages, mentions of me only, or none. */
  async setRoomNotify(roomId: string, level: NotifyLevel) {
    try {
      this.settings = await ipc.setSettings({ ...this.settings, room_notify: { ...this.settings.room_notify, [roomId]: level } });
    } catch (e) {
      this.say(errorText(e));
    }
  }

  /** Sends the composer's text as a reply (when replying) with its mentions. */
  async sendMessage(roomId: string, text: string, mentionIds: string[], room: boolean): Promise<boolean> {
    const reply = this.replyTo[roomId] ?? null;
    const editing = this.editing[roomId];
    if (editing) {
      this.editing[roomId] = null;
      this.drafts[roomId] = editing.draft;
      const ok = await this.act(roomId, text, { kind: "edit", target: editing.seq, mentions: mentionIds, mentions_room: room });
      // Refused: back to editing, with the new text, so the next Enter is an edit again.
      if (!ok) {
        this.editing[roomId] = editing;
        this.drafts[roomId] = text;
      }
      return ok;
    }
    if (reply === null && mentionIds.length === 0 && !room) return this.send(roomId, text);
    this.drafts[roomId] = "";
    this.draftSaver.cancel(roomId);
    const ok = await this.act(roomId, text, { reply_to: reply ?? undefined, mentions: mentionIds, mentions_room: room });
    if (ok) {
      this.replyTo[roomId] = null;
      this.draftSaver.saveNow(roomId, "");
    } else this.setDraft(roomId, restoreDraft(this.drafts[roomId] ?? "", text));
    return ok;
  }

  /** Edits an own message in the composer; the draft typed so far comes back after. */
  startEdit(roomId: string, seq: number, text: string) {
    const draft = this.editing[roomId]?.draft ?? this.drafts[roomId] ?? "";
    // The draft as typed is on disk before the composer shows the message instead.
    if (!this.editing[roomId]) this.draftSaver.saveNow(roomId, draft);
    this.editing[roomId] = { seq, draft };
    this.replyTo[roomId] = null;
    this.drafts[roomId] = text;
    this.composerFocus++;
  }

  cancelEdit(roomId: string) {
    const e = this.editing[roomId];
    if (!e) return;
    this.editing[roomId] = null;
    this.drafts[roomId] = e.draft;
  }

  startReply(roomId: string, seq: number) {
    this.cancelEdit(roomId);
    this.replyTo[roomId] = seq;
    this.composerFocus++;
  }

  /** Brings a message into view: loads older history (cache, then host) until it is there. */
  async jumpTo(roomId: string, seq: number) {
    if (this.active !== roomId) await this.open(roomId);
    for (let tries = 0; tries < 40; tries++) {
      const list = this.messages[roomId] ?? [];
      if (list.some((m) => m.seq === seq) || (list[0]?.seq ?? 0) <= seq) break;
      // Nothing more in the cache: the core asked the host; give its page time to come.
      if (!(await this.loadOlder(roomId))) await new Promise((r) => setTimeout(r, 250));
    }
    this.focusSeq = { roomId, seq, n: ++this.focusN };
  }

  /** Reconnects a room now (also after "Stay disconnected" on a certificate warning). */
  async retryRoom(roomId: string) {
    try {
      await ipc.retryRoom(roomId);
    } catch (e) {
      this.say(errorText(e));
    }
  }

  /** Reopens the certificate warning for a room whose host presented another identity. */
  reviewIdentity(roomId: string) {
    const a = this.access(roomId);
    if (a.state !== "identity_changed" || this.mismatches.some((w) => w.rooms.includes(roomId))) return;
    const rooms = this.rooms
      .filter((r) => r.access.state === "identity_changed" && r.access.address === a.address)
      .map((r) => r.room_id);
    this.mismatches = [...this.mismatches, { address: a.address, rooms, expected: a.expected, presented: a.presented }];
  }

  /** Stops waiting for a join; a late outcome then neither opens the room nor shows an error. */
  cancelJoin(key: string) {
    delete this.joining[key];
  }

  /** Alt+Arrow: the previous or next room of "Your rooms". */
  openAdjacent(step: -1 | 1) {
    const next = adjacentRoom(this.rooms, this.active, step);
    if (next && next.room_id !== this.active) void this.open(next.room_id);
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
      case "transfer": {
        const t = e.transfer;
        const startedAt = this.transfers[t.id]?.startedAt ?? Date.now();
        this.transfers[t.id] = { ...t, startedAt, updatedAt: Date.now() };
        if (t.state === "done") setTimeout(() => delete this.transfers[t.id], 1500);
        if (t.state === "cancelled") delete this.transfers[t.id];
        break;
      }
      case "message": {
        const started = performance.now();
        const m = e.message;
        const loaded = this.messages[m.room_id];
        if (loaded) this.messages[m.room_id] = mergeMessages(loaded, [m]);
        if (loaded && this.active === m.room_id) this.mark("append-message", started);
        if (this.active === m.room_id && !this.person(m.room_id, m.user_id)) this.loadPeople(m.room_id);
        this.settled.add(m.client_msg_id);
        this.outbox = outbox.acked(this.outbox, m.client_msg_id);
        // An edit, a deletion or a reaction changes a message; it is not a new one.
        if (isAction(m)) break;
        // An older page arriving (the reader scrolled up) is history, not news: it is
        // not unread, shows no "New messages" and notifies nobody.
        if (isHistory(loaded, m)) break;
        const mine = m.user_id === this.profile?.user_id;
        const inView = this.isInView(m.room_id);
        const readSeq = this.room(m.room_id)?.read_seq ?? 0;
        this.unread = unread.onMessage(this.unread, m, this.profile?.user_id ?? "", readSeq, inView);
        if (inView) this.readAll(m.room_id);
        else if (this.active === m.room_id && !mine && !this.atBottom) this.newBelow = true;
        // Per room: everything, only mentions of me (by id, or @room), or nothing.
        const level = this.settings.room_notify?.[m.room_id] ?? "all";
        const mentioned = mentions(m, this.profile?.user_id ?? "");
        if (mentioned) this.mentionsUnread = unread.onMessage(this.mentionsUnread, m, this.profile?.user_id ?? "", readSeq, inView);
        const wanted = level === "all" || (level === "mentions" && mentioned);
        if (!mine && !inView && this.settings.notifications && wanted && m.seq > readSeq) {
          const room = this.room(m.room_id)?.name ?? "Hearth";
          const author = mentioned ? `${m.author} (mentioned you)` : m.author;
          this.notifier.message({ roomId: m.room_id, room, author, text: m.text });
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
        const before = this.members[e.room_id]?.find((m) => m.user_id === e.member.user_id);
        if (e.member.user_id !== this.profile?.user_id && (e.event !== "rename" || (before && before.name !== e.member.name))) {
          const line = { key: `p-${++this.presenceSeq}`, ts: Date.now(), event: e.event, name: e.member.name, oldName: before?.name };
          this.presence = addPresence(this.presence, e.room_id, line);
        }
        const list = (this.members[e.room_id] ?? []).filter((m) => m.user_id !== e.member.user_id);
        if (e.event !== "leave" && e.event !== "timeout") list.push(e.member);
        list.sort((a, b) => a.name.localeCompare(b.name));
        this.members[e.room_id] = list;
        if (this.active === e.room_id) this.loadPeople(e.room_id);
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
        if (this.active === id) this.loadPeople(id);
        this.upsertRoom(e.room);
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
        this.joining[key] = { message: e.message, retryAfterMs: e.retry_after_ms, code: e.code, at: Date.now() };
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
        if (!this.mismatches.some((w) => w.address === e.address && w.presented === e.presented))
          this.mismatches = [...this.mismatches, e];
        for (const r of e.rooms) {
          this.joining[r] = { message: "The host's certificate changed.", retryAfterMs: null, code: "fingerprint", at: Date.now() };
          this.setAccess(r, { state: "identity_changed", address: e.address, expected: e.expected, presented: e.presented });
        }
        break;
      case "room_access":
        this.setAccess(e.room_id, e.access);
        break;
      case "history_diverged":
        // The cache now follows the host: what the list showed may be gone or different.
        this.diverged = { ...this.diverged, [e.room_id]: (this.diverged[e.room_id] ?? 0) + e.set_aside };
        delete this.unhostedDismissed[e.room_id];
        this.refreshRooms(0);
        delete this.messages[e.room_id];
        if (this.active === e.room_id) void this.reload(e.room_id);
        break;
      case "resync":
        void this.resync();
        break;
      case "error":
        this.say(e.message);
        break;
    }
  }

  /** Transfers under way as the core has them (events since may be newer: kept). */
  private takeTransfers(list: TransferView[]) {
    const now = Date.now();
    for (const t of list) {
      const known = this.transfers[t.id];
      if (!known) this.transfers[t.id] = { ...t, startedAt: now, updatedAt: now };
      else if (t.done > known.done) this.transfers[t.id] = { ...t, startedAt: known.startedAt, updatedAt: now };
    }
  }

  /** The core dropped events because the UI fell behind: read everything afresh. */
  async resync() {
    try {
      const [rooms, discovered, hosted, transfers] = await Promise.all([
        ipc.rooms(),
        ipc.discovered(),
        ipc.hosted(),
        ipc.transfers(),
      ]);
      this.takeTransfers(transfers);
      this.setRooms(rooms);
      this.discovered = discovered;
      this.hosted = hosted;
      for (const r of rooms) {
        this.unread[r.room_id] = r.unread;
        this.mentionsUnread[r.room_id] = r.mentions;
      }
      // Rooms not on screen load again when opened; the open one reloads now.
      for (const id of Object.keys(this.messages)) if (id !== this.active) delete this.messages[id];
      if (this.active) {
        await this.reload(this.active);
        this.members[this.active] = await ipc.members(this.active).catch(() => []);
      }
      this.syncTitle();
    } catch (e) {
      this.say(errorText(e));
    }
  }
}

export const app = new AppState();
