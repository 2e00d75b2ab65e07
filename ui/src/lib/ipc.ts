// Typed calls into the Tauri shell. Argument and result types are the ones generated
// from Rust (src/bindings), so the two sides cannot drift apart.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { AppEvent } from "../bindings/AppEvent";
import type { ChatMessage } from "../bindings/ChatMessage";
import type { DiscoveredView } from "../bindings/DiscoveredView";
import type { HostedView } from "../bindings/HostedView";
import type { Member } from "../bindings/Member";
import type { MessagePage } from "../bindings/MessagePage";
import type { PendingView } from "../bindings/PendingView";
import type { PersonView } from "../bindings/PersonView";
import type { Profile } from "../bindings/Profile";
import type { TransferView } from "../bindings/TransferView";
import type { Relation } from "../bindings/Relation";
import type { RoomView } from "../bindings/RoomView";
import type { SearchHitView } from "../bindings/SearchHitView";
import type { SearchRequest } from "../bindings/SearchRequest";
import type { Settings } from "../bindings/Settings";
import type { Visibility } from "../bindings/Visibility";
import type { FileLimitsView } from "../bindings/FileLimitsView";

export const ipc = {
  subscribe(onEvent: (e: AppEvent) => void): Promise<void> {
    const channel = new Channel<AppEvent>();
    channel.onmessage = onEvent;
    return invoke("subscribe", { on_event: channel });
  },
  uiReady: () => invoke<boolean>("ui_ready"),
  uiMark: (name: string, ms: number) => invoke<void>("ui_mark", { name, ms }),
  profile: () => invoke<Profile>("profile"),
  setName: (name: string) => invoke<Profile>("set_name", { name }),
  settings: () => invoke<Settings>("settings"),
  setSettings: (settings: Settings) => invoke<Settings>("set_settings", { settings }),
  rooms: () => invoke<RoomView[]>("rooms"),
  members: (roomId: string) => invoke<Member[]>("members", { room_id: roomId }),
  messages: (roomId: string, beforeSeq: number | null, limit: number) =>
    invoke<MessagePage>("messages", { room_id: roomId, before_seq: beforeSeq, limit }),
  /** Messages kept here that the host no longer has ("not on the host"). */
  unhostedMessages: (roomId: string) => invoke<ChatMessage[]>("unhosted_messages", { room_id: roomId }),
  send: (roomId: string, text: string, relation: Relation | null = null) =>
    invoke<PendingView>("send", { room_id: roomId, text, relation }),
  /** Files as one message; progress arrives as `transfer` events. Returns the transfer's id. */
  sendFiles: (roomId: string, paths: string[], caption: string) =>
    invoke<number>("send_files", { room_id: roomId, paths, caption, relation: null }),
  /** The system's file picker, then sendFiles; null if nothing was picked. */
  pickAndSend: (roomId: string, caption: string) =>
    invoke<number | null>("pick_and_send", { room_id: roomId, caption }),
  /** Pasted bytes (a screenshot), sent raw. */
  sendPasted: (roomId: string, name: string, bytes: ArrayBuffer, caption: string) =>
    invoke<number>("send_pasted", bytes, {
      headers: { "x-room-id": roomId, "x-name": encodeURIComponent(name), "x-caption": encodeURIComponent(caption) },
    }),
  /** A room's file into the local cache (report: shown as a download). */
  fetchFile: (roomId: string, fileId: string, size: number, name: string, report: boolean) =>
    invoke<void>("fetch_file", { room_id: roomId, file_id: fileId, size, name, report }),
  saveFileAs: (roomId: string, fileId: string, size: number, name: string) =>
    invoke<string | null>("save_file_as", { room_id: roomId, file_id: fileId, size, name }),
  openFile: (roomId: string, fileId: string, size: number, name: string) =>
    invoke<void>("open_file", { room_id: roomId, file_id: fileId, size, name }),
  cancelTransfer: (id: number) => invoke<boolean>("cancel_transfer", { id }),
  /** The transfers under way (some may have started before this window). */
  transfers: () => invoke<TransferView[]>("transfers"),
  fileLimits: (roomId: string) => invoke<FileLimitsView>("file_limits", { room_id: roomId }),
  keepFile: (fileId: string, keep: boolean) => invoke<boolean>("keep_file", { file_id: fileId, keep }),
  fileCacheUsage: () => invoke<[number, number]>("file_cache_usage"),
  search: (query: SearchRequest) => invoke<SearchHitView[]>("search", { query }),
  /** A link from a message, in the system browser (http, https and mailto only). */
  openLink: (url: string) => invoke<void>("open_link", { url }),
  typing: (roomId: string, active: boolean) => invoke<void>("typing", { room_id: roomId, active }),
  markRead: (roomId: string, seq: number) => invoke<void>("mark_read", { room_id: roomId, seq }),
  joinLink: (link: string, passcode: string | null) =>
    invoke<string | null>("join_link", { link, passcode }),
  joinDiscovered: (roomId: string, passcode: string | null) =>
    invoke<void>("join_discovered", { room_id: roomId, passcode }),
  /** Joins a room of "Your rooms" again with a passcode; the outcome arrives as `joined` / `join_failed`. */
  rejoin: (roomId: string, passcode: string) => invoke<void>("rejoin", { room_id: roomId, passcode }),
  /** Reconnects a room now. */
  retryRoom: (roomId: string) => invoke<void>("retry_room", { room_id: roomId }),
  /** Saves a room's composer draft ("" removes it). */
  setDraft: (roomId: string, text: string) => invoke<void>("set_draft", { room_id: roomId, text }),
  leave: (roomId: string) => invoke<void>("leave", { room_id: roomId }),
  /** `keepPasscode`: reopen an earlier room with its stored passcode (`passcode` is ignored). */
  hostRoom: (name: string, passcode: string | null, keepPasscode: boolean) =>
    invoke<HostedView>("host_room", { name, passcode, keep_passcode: keepPasscode }),
  hosted: () => invoke<HostedView[]>("hosted"),
  stopHosting: (roomId: string) => invoke<void>("stop_hosting", { room_id: roomId }),
  setRoomPolicy: (roomId: string, visibility: Visibility, membersOnly: boolean) =>
    invoke<HostedView>("set_room_policy", { room_id: roomId, visibility, members_only: membersOnly }),
  removeMember: (roomId: string, userId: string) => invoke<void>("remove_member", { room_id: roomId, user_id: userId }),
  people: (roomId: string) => invoke<PersonView[]>("people", { room_id: roomId }),
  setVerified: (userId: string, name: string, verified: boolean) =>
    invoke<void>("set_verified", { user_id: userId, name, verified }),
  discovered: () => invoke<DiscoveredView[]>("discovered"),
  trustFingerprint: (roomId: string, fingerprint: string) =>
    invoke<void>("trust_fingerprint", { room_id: roomId, fingerprint }),
  notify: (title: string, body: string) => invoke<void>("notify", { title, body }),
  setUnread: (total: number) => invoke<void>("set_unread", { total }),
};

export { errorCode, errorText } from "./state/errors";
