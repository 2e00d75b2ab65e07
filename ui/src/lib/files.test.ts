import { describe, expect, it } from "vitest";
import { cachedUrl, fileIcon, humanSize, pastedName, rate, typeLabel } from "./files";

describe("files", () => {
  it("says sizes as the core does", () => {
    expect(humanSize(999)).toBe("999 bytes");
    expect(humanSize(1_500_000)).toBe("1.5 MB");
    expect(humanSize(2_000_000_000)).toBe("2.0 GB");
  });
  it("labels types", () => {
    expect(typeLabel("image/png")).toBe("PNG image");
    expect(typeLabel("application/pdf")).toBe("PDF");
    expect(typeLabel("application/octet-stream")).toBe("File");
    expect(fileIcon("application/zip")).toBe("🗜");
  });
  it("addresses cached files per platform, the type escaped", () => {
    const id = "ab".repeat(32);
    expect(cachedUrl(id, "image/png", false)).toBe(`hearthfile://localhost/${id}?type=image%2Fpng`);
    expect(cachedUrl(id, "image/png", true)).toBe(`http://hearthfile.localhost/${id}?type=image%2Fpng`);
  });
  it("tells speed and time left", () => {
    expect(rate(0, 100, 1000)).toBe("");
    expect(rate(50_000_000, 100_000_000, 2000)).toBe("25.0 MB/s · 0:02 left");
  });
  it("names a pasted screenshot after the time", () => {
    const at = new Date(2026, 11, 5, 14, 3, 22);
    expect(pastedName({ name: "image.png", type: "image/png" }, at)).toBe("Screenshot 2026-12-05 14.03.22.png");
    expect(pastedName({ name: "plan.pdf", type: "application/pdf" }, at)).toBe("plan.pdf");
  });
});
