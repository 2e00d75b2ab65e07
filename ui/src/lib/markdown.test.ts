import { describe, expect, it } from "vitest";
import { inline, mentionParts, parse, safeHref } from "./markdown";

describe("the Markdown subset", () => {
  it("parses emphasis, code and strike, and leaves unmatched markers as text", () => {
    expect(inline("**bold** and *it* and ~~gone~~ and `x*y*z`")).toEqual([
      { t: "strong", children: [{ t: "text", text: "bold" }] },
      { t: "text", text: " and " },
      { t: "em", children: [{ t: "text", text: "it" }] },
      { t: "text", text: " and " },
      { t: "del", children: [{ t: "text", text: "gone" }] },
      { t: "text", text: " and " },
      { t: "code", text: "x*y*z" },
    ]);
    expect(inline("2 * 3 * 4 and snake_case_name")).toEqual([{ t: "text", text: "2 * 3 * 4 and snake_case_name" }]);
  });

  it("keeps only http, https and mailto links; a javascript: link is text", () => {
    expect(inline("[site](https://example.org/a?b=1)")).toEqual([
      { t: "link", href: "https://example.org/a?b=1", children: [{ t: "text", text: "site" }] },
    ]);
    expect(inline("[click](javascript:alert(1))")[0]).toEqual({ t: "text", text: "[click](javascript:alert(1))" });
    expect(inline("see https://example.org/x.")).toEqual([
      { t: "text", text: "see " },
      { t: "link", href: "https://example.org/x", children: [{ t: "text", text: "https://example.org/x" }] },
      { t: "text", text: "." },
    ]);
    for (const bad of ["javascript:alert(1)", "data:text/html,<b>", "file:///etc/passwd", "JaVaScRiPt:x", "  javascript:x"])
      expect(safeHref(bad)).toBeNull();
  });

  it("markup in a message is text, never HTML", () => {
    const b = parse('<img src=x onerror="alert(1)"> **<script>**');
    expect(b).toEqual([
      {
        t: "p",
        children: [
          { t: "text", text: '<img src=x onerror="alert(1)"> ' },
          { t: "strong", children: [{ t: "text", text: "<script>" }] },
        ],
      },
    ]);
  });

  it("parses code blocks, quotes and lists", () => {
    const b = parse("intro\n```\nlet x = **1**;\n```\n> quoted *it*\n> more\n- one\n- two\n3. three\n4. four");
    expect(b.map((x) => x.t)).toEqual(["p", "pre", "quote", "ul", "ol"]);
    expect(b[1]).toEqual({ t: "pre", text: "let x = **1**;" });
    expect(b[4]).toMatchObject({ t: "ol", start: 3 });
  });

  it("an unclosed fence is text, and deep nesting stops", () => {
    expect(parse("```\nno end")).toEqual([{ t: "p", children: [{ t: "text", text: "```\nno end" }] }]);
    const deep = ">".repeat(50) + " x";
    expect(() => parse(deep)).not.toThrow();
    expect(() => inline("*".repeat(10_000))).not.toThrow();
  });

  it("plain text with blank lines is one paragraph, exactly as typed", () => {
    const t = "first line\n\n\nafter two blank lines\n  indented";
    expect(parse(t)).toEqual([{ t: "p", children: [{ t: "text", text: t }] }]);
  });

  it("right-to-left text and emoji pass through untouched", () => {
    expect(inline("**مرحبا** 👋🏽")).toEqual([
      { t: "strong", children: [{ t: "text", text: "مرحبا" }] },
      { t: "text", text: " 👋🏽" },
    ]);
  });

  it("marks @mentions of the names given, longest first", () => {
    expect(mentionParts("hi @Ann Lee and @Ann, @room!", ["Ann", "Ann Lee", "room"])).toEqual([
      { text: "hi ", mention: false },
      { text: "@Ann Lee", mention: true },
      { text: " and ", mention: false },
      { text: "@Ann", mention: true },
      { text: ", ", mention: false },
      { text: "@room", mention: true },
      { text: "!", mention: false },
    ]);
    expect(mentionParts("mail me@example.org", [])).toEqual([{ text: "mail me@example.org", mention: false }]);
  });
});
