// Files in the UI (protocol §3.10): how a file is shown, named and measured. Pure, so
// vitest covers it without a webview.
import type { Attachment } from "../bindings/Attachment";

const UNITS = ["KB", "MB", "GB", "TB"];

/** "1.4 MB", as the core says it (decimal units, one decimal). */
export function humanSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  let v = bytes / 1000;
  let unit = 0;
  while (v >= 1000 && unit + 1 < UNITS.length) {
    v /= 1000;
    unit += 1;
  }
  return `${v.toFixed(1)} ${UNITS[unit]}`;
}

export const isImage = (a: Attachment) => ["image/png", "image/jpeg", "image/gif", "image/webp"].includes(a.mime);
export const isVideo = (a: Attachment) => ["video/mp4", "video/webm"].includes(a.mime);
export const isAudio = (a: Attachment) => ["audio/mpeg", "audio/ogg", "audio/wav", "audio/webm"].includes(a.mime);

/** A glyph for a file card, by its type. */
export function fileIcon(mime: string): string {
  if (mime.startsWith("image/")) return "🖼";
  if (mime.startsWith("video/")) return "🎞";
  if (mime.startsWith("audio/")) return "🎵";
  if (mime === "application/pdf") return "📕";
  if (/zip|tar|gzip|7z|rar|compressed/.test(mime)) return "🗜";
  if (mime.startsWith("text/")) return "📄";
  return "📦";
}

/** A short label for the type: "PDF", "PNG image", or the subtype. */
export function typeLabel(mime: string): string {
  const [type, sub = ""] = mime.split("/");
  if (mime === "application/octet-stream") return "File";
  if (type === "image" || type === "video" || type === "audio") return `${sub.toUpperCase()} ${type}`;
  return sub.replace(/^x-/, "").toUpperCase() || "File";
}

/**
 * The address of a cached file for `<img>` / `<video>` (the shell's `hearthfile:`
 * scheme; WebView2 on Windows spells custom schemes as http://NAME.localhost).
 */
export function cachedUrl(fileId: string, mime: string, windows = /Windows/.test(navigator.userAgent)): string {
  const base = windows ? "http://hearthfile.localhost/" : "hearthfile://localhost/";
  return `${base}${fileId}?type=${encodeURIComponent(mime)}`;
}

/** Speed and time left from two progress samples: "12.3 MB/s · 0:42 left". */
export function rate(done: number, total: number, elapsedMs: number): string {
  if (elapsedMs < 300 || done <= 0) return "";
  const perSec = (done / elapsedMs) * 1000;
  const left = Math.max(0, (total - done) / perSec);
  const m = Math.floor(left / 60);
  const s = Math.round(left % 60);
  return `${humanSize(perSec)}/s · ${m}:${String(s).padStart(2, "0")} left`;
}

/** A pasted file's name: its own, or one made from the time ("Screenshot 2026-12-05 14.03.22.png"). */
export function pastedName(file: { name: string; type: string }, now = new Date()): string {
  if (file.name && file.name !== "image.png") return file.name;
  const ext = file.type.split("/")[1]?.replace("jpeg", "jpg") ?? "png";
  const p = (n: number) => String(n).padStart(2, "0");
  return `Screenshot ${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())} ${p(now.getHours())}.${p(now.getMinutes())}.${p(now.getSeconds())}.${ext}`;
}
