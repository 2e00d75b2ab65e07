// The reaction picker's emoji: a short list with names to search by, and the recent
// ones first (kept in this webview's storage: a preference, not a message).
export interface Emoji {
  e: string;
  name: string;
}

export const EMOJI: Emoji[] = [
  ["👍", "thumbs up yes ok agree"], ["👎", "thumbs down no disagree"], ["❤️", "heart love"],
  ["😂", "joy laugh tears"], ["😊", "smile happy blush"], ["😮", "wow surprised open mouth"],
  ["😢", "sad cry tear"], ["🎉", "party tada celebrate"], ["🙏", "thanks please pray"],
  ["👀", "eyes looking watch"], ["🔥", "fire hot lit"], ["✅", "check done yes"],
  ["❌", "cross no wrong"], ["🚀", "rocket ship launch"], ["💯", "hundred perfect"],
  ["🤔", "thinking hmm"], ["👏", "clap applause"], ["🙌", "raised hands hooray"],
  ["😅", "sweat smile phew"], ["😬", "grimace awkward"], ["🤝", "handshake deal"],
  ["💡", "idea bulb"], ["⚠️", "warning caution"], ["☕", "coffee tea break"],
  ["🍕", "pizza food lunch"], ["🍜", "noodles ramen lunch"], ["🎂", "cake birthday"],
  ["😎", "cool sunglasses"], ["🥳", "party face celebrate"], ["😴", "sleep tired"],
  ["🤯", "mind blown"], ["🙃", "upside down"], ["👋", "wave hello bye"], ["⭐", "star"],
  ["📌", "pin"], ["📎", "paperclip attach"], ["🐛", "bug"], ["🛠️", "tools fix"],
].map(([e, name]) => ({ e: e as string, name: name as string }));

const KEY = "hearth.recentEmoji";
const MAX_RECENT = 8;

export function recent(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string").slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

export function remember(e: string) {
  try {
    localStorage.setItem(KEY, JSON.stringify([e, ...recent().filter((x) => x !== e)].slice(0, MAX_RECENT)));
  } catch {
    // Storage full or unavailable: recents are a convenience.
  }
}

export function search(q: string): Emoji[] {
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return EMOJI;
  return EMOJI.filter((x) => words.every((w) => x.name.split(" ").some((n) => n.startsWith(w)) || x.e === w));
}
