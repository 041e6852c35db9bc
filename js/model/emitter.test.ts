import { describe, expect, it } from "vitest";
import { Emitter } from "./emitter";

type Events = { hover: number; error: string };

describe("Emitter", () => {
  it("tells each listener of its own event, until it unsubscribes", () => {
    const e = new Emitter<Events>();
    const seen: Array<number | string> = [];
    const off = e.on("hover", (v) => seen.push(v));
    e.on("error", (v) => seen.push(`error ${v}`));
    e.emit("hover", 3);
    e.emit("error", "boom");
    off();
    e.emit("hover", 4);
    expect(seen).toEqual([3, "error boom"]);
  });
  it("lets a listener unsubscribe while being told, and forgets all on clear", () => {
    const e = new Emitter<Events>();
    const seen: number[] = [];
    const off = e.on("hover", (v) => {
      seen.push(v);
      off();
    });
    e.on("hover", (v) => seen.push(v * 10));
    e.emit("hover", 1);
    e.emit("hover", 2);
    e.clear();
    e.emit("hover", 3);
    expect(seen).toEqual([1, 10, 20]);
  });
});
