// Desktop notifications, coalesced per room: the first message of a burst shows at once;
// what follows within the window is collected into one summary ("5 new messages in
// Design team"), so a flood of messages never becomes a flood of notifications.
import { isolate } from "./parts";

export const NOTIFY_WINDOW_MS = 4000;
const PREVIEW_CHARS = 200;

export interface Notice {
  title: string;
  body: string;
}

export interface Incoming {
  roomId: string;
  room: string;
  author: string;
  text: string;
}

interface Burst {
  collected: number;
  last: Incoming | null;
  timer: ReturnType<typeof setTimeout>;
}

export function single(m: Incoming): Notice {
  return { title: `${isolate(m.author)} in ${isolate(m.room)}`, body: [...m.text].slice(0, PREVIEW_CHARS).join("") };
}

export function summary(count: number, last: Incoming): Notice {
  return {
    title: `${count} new messages in ${isolate(last.room)}`,
    body: `${isolate(last.author)}: ${[...last.text].slice(0, PREVIEW_CHARS).join("")}`,
  };
}

export class NotifyCoalescer {
  private bursts = new Map<string, Burst>();

  constructor(
    private show: (n: Notice) => void,
    private windowMs = NOTIFY_WINDOW_MS,
  ) {}

  message(m: Incoming) {
    const burst = this.bursts.get(m.roomId);
    if (burst) {
      burst.collected++;
      burst.last = m;
      return;
    }
    this.show(single(m));
    this.open(m.roomId);
  }

  private open(roomId: string) {
    const timer = setTimeout(() => this.close(roomId), this.windowMs);
    this.bursts.set(roomId, { collected: 0, last: null, timer });
  }

  /** End of a window: show what was collected; a burst still flowing keeps collecting. */
  private close(roomId: string) {
    const burst = this.bursts.get(roomId);
    this.bursts.delete(roomId);
    if (!burst?.last) return;
    this.show(burst.collected === 1 ? single(burst.last) : summary(burst.collected, burst.last));
    this.open(roomId);
  }

  /** The user looked at the room: what was collected is no longer news. */
  clear(roomId: string) {
    const burst = this.bursts.get(roomId);
    if (!burst) return;
    clearTimeout(burst.timer);
    this.bursts.delete(roomId);
  }
}
