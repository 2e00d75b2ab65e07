import { describe, expect, it } from "vitest";
import { identityCode, sharedNames } from "./identity";

describe("identity codes", () => {
  it("match the protocol's worked example (and the Rust implementation)", () => {
    expect(identityCode("79712b87-6281-84e0-879d-0d5e7a3e576a")).toBe("F5RJ-Q1V2-G570-3ST3");
  });

  it("differ for different people and are empty for a malformed id", () => {
    const a = identityCode("79712b87-6281-84e0-879d-0d5e7a3e576a");
    const b = identityCode("79712b87-6282-84e0-879d-0d5e7a3e576a");
    const c = identityCode("f9712b87-6281-84e0-879d-0d5e7a3e576a");
    expect(new Set([a, b, c]).size).toBe(3);
    expect(identityCode("not a uuid")).toBe("");
  });

  it("name the names two people share, whatever their case", () => {
    const shared = sharedNames([
      { user_id: "1", name: "Alice" },
      { user_id: "2", name: "alice" },
      { user_id: "3", name: "محمد" },
      { user_id: "3", name: "محمد" },
    ]);
    expect([...shared]).toEqual(["alice"]);
  });
});
