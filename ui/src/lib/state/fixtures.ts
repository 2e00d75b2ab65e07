// Realistic test data: a busy room with long names, right-to-left text and emoji.
import type { ChatMessage } from "../../bindings/ChatMessage";

export const ROOM = "6f1c2a9e-3b7d-4f0e-9a51-0c8d2e4b7a10";
export const T0 = Date.UTC(2025, 2, 14, 9, 0, 0);

export const PEOPLE = [
  { user_id: "u-alice", name: "Alice" },
  { user_id: "u-long", name: "Maximiliane Alexandrina von Hohenzollern-Sigmaringen (Design)" },
  { user_id: "u-rtl", name: "مريم الحسيني" },
  { user_id: "u-emoji", name: "🦊 Fox 🔥" },
];

const TEXTS = [
  "Morning! Coffee is ready ☕",
  "שלום לכולם, הפגישה בעוד עשר דקות",
  "Can someone review the layout for the 800×600 window?",
  "تم إرسال الملف، يرجى المراجعة",
  "🎉🎉🎉 shipped!",
  "A long line ".repeat(40),
];

/** `count` messages, seq from `firstSeq`, a few seconds apart, authors taking turns in runs of 3. */
export function history(count: number, firstSeq = 1, start = T0): ChatMessage[] {
  return Array.from({ length: count }, (_, i) => {
    const who = PEOPLE[Math.floor(i / 3) % PEOPLE.length]!;
    const seq = firstSeq + i;
    return {
      room_id: ROOM,
      seq,
      ts: start + i * 7_000,
      user_id: who.user_id,
      author: who.name,
      client_msg_id: `c-${seq}`,
      text: TEXTS[i % TEXTS.length]!,
    };
  });
}
