import { describe, expect, it } from "vitest";
import { statusProgress, statusText } from "./status";

describe("status line", () => {
  it("says what runs and how far it got", () => {
    expect(statusText({ phase: "forward", done: 3, total: 23 })).toBe(
      "running the model… layer 3 of 23",
    );
    expect(statusText({ phase: "layers", done: 0, total: 24 })).toBe("summarising layers… 0 of 24");
    expect(statusProgress({ phase: "forward", done: 3, total: 23 })).toBe("3/23");
    expect(statusText({ phase: "visualize", done: 5, total: 12 })).toBe(
      "feature visualisation… step 5 of 12",
    );
    expect(statusText({ phase: "examples", done: 64, total: 0 })).toBe("finding top examples…");
  });

  it("is empty when idle and never trusts the kernel's values", () => {
    expect(statusText(null)).toBeNull();
    expect(statusProgress(undefined)).toBeNull();
    expect(statusText({ phase: "forward", done: 0, total: 0 })).toBe("running the model…");
    const hostile = { phase: "<img src=x>", done: "1" as unknown as number, total: -2 };
    expect(statusText(hostile)).toBe("working…");
    expect(statusProgress(hostile)).toBeNull();
    expect(statusText({ phase: "layers", done: 9, total: 4 })).toBe("summarising layers… 4 of 4");
  });
});
