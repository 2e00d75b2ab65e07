// Composer drafts, saved per room through the core (they survive a restart). Typing is
// saved after a short pause; a room switch or the window losing focus saves at once.
export const DRAFT_SAVE_DELAY_MS = 300;

type Save = (roomId: string, text: string) => void;

export class DraftSaver {
  private waiting = new Map<string, { text: string; timer: ReturnType<typeof setTimeout> }>();

  constructor(
    private save: Save,
    private delayMs = DRAFT_SAVE_DELAY_MS,
  ) {}

  /** The text changed: save it once typing pauses. */
  change(roomId: string, text: string) {
    const prev = this.waiting.get(roomId);
    if (prev) clearTimeout(prev.timer);
    const timer = setTimeout(() => this.flush(roomId), this.delayMs);
    this.waiting.set(roomId, { text, timer });
  }

  /** Saves now (replacing anything still waiting for the room). */
  saveNow(roomId: string, text: string) {
    this.drop(roomId);
    this.save(roomId, text);
  }

  /** Saves a room's waiting text now, if any. */
  flush(roomId: string) {
    const w = this.waiting.get(roomId);
    if (!w) return;
    this.drop(roomId);
    this.save(roomId, w.text);
  }

  /** Forgets a room's waiting text (it was sent). */
  cancel(roomId: string) {
    this.drop(roomId);
  }

  flushAll() {
    for (const id of [...this.waiting.keys()]) this.flush(id);
  }

  private drop(roomId: string) {
    const w = this.waiting.get(roomId);
    if (w) clearTimeout(w.timer);
    this.waiting.delete(roomId);
  }
}

/**
 * After a failed send the text goes back into the composer. If the user has typed
 * something new meanwhile, both are kept: the unsent text first, as it was written first.
 */
export function restoreDraft(current: string, sent: string): string {
  return current.trim() === "" ? sent : `${sent}\n${current}`;
}
