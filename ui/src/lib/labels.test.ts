import { describe, expect, it } from "vitest";
import { connectionLabel, fingerprintGroups, isOffline } from "./labels";

describe("connection labels", () => {
  const reconnecting = (attempt: number, host_down: boolean) =>
    ({ state: "reconnecting", attempt, retry_in_ms: 4000, reason: "x", host_down }) as const;

  it("says the host is offline as soon as the host is known to be down", () => {
    expect(connectionLabel(reconnecting(1, true), 0)).toBe("Host offline — next try in 4 s");
  });

  it("says reconnecting for an unclear failure, and offline after several", () => {
    expect(connectionLabel(reconnecting(1, false), 0)).toBe("Reconnecting — next try in 4 s");
    expect(connectionLabel(reconnecting(3, false), 0)).toBe("Host offline — next try in 4 s");
  });

  it("counts down from when the state arrived", () => {
    expect(connectionLabel(reconnecting(1, false), 11_500, 10_000)).toBe("Reconnecting — next try in 3 s");
    expect(connectionLabel(reconnecting(1, false), 20_000, 10_000)).toBe("Reconnecting — next try in 0 s");
  });

  it("treats reconnecting and closed as offline", () => {
    expect(isOffline(reconnecting(1, false))).toBe(true);
    expect(isOffline({ state: "closed", reason: "left" })).toBe(true);
    expect(isOffline({ state: "connected" })).toBe(false);
  });

  it("groups a fingerprint in byte pairs", () => {
    expect(fingerprintGroups("ab12cd")).toBe("ab:12:cd");
  });
});
