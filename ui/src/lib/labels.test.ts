import { describe, expect, it } from "vitest";
import { connectionLabel, fingerprintBytes, fingerprintGroups, hostedBy, isOffline, othersAre } from "./labels";

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

  it("never says not connected twice", () => {
    expect(connectionLabel({ state: "closed", reason: "not connected" }, 0)).toBe("Not connected");
    expect(connectionLabel({ state: "closed", reason: "Not connected." }, 0)).toBe("Not connected");
    expect(connectionLabel({ state: "closed", reason: "" }, 0)).toBe("Not connected");
    expect(connectionLabel({ state: "closed", reason: "left the room" }, 0)).toBe("Not connected: left the room");
  });

  it("splits a fingerprint into bytes for wrapping between them", () => {
    const fp = "0f".repeat(32);
    expect(fingerprintBytes(fp)).toHaveLength(32);
    expect(fingerprintBytes(fp).every((b) => b === "0f")).toBe(true);
  });

  it("counts the others and names the host", () => {
    expect(othersAre(1)).toBe("1 other person is");
    expect(othersAre(3)).toBe("3 other people are");
    expect(othersAre(0)).toBe("0 other people are");
    expect(hostedBy(true, "Alice")).toEqual(["hosted by you"]);
    expect(hostedBy(false, "مريم")).toEqual(["hosted by ", { name: "مريم" }]);
    expect(hostedBy(false, null)).toEqual(["hosted by someone on your network"]);
  });
});
