import { describe, expect, it } from "vitest";
import { FakeModel } from "../testing/fake-model";

describe("LocalModel", () => {
  it("fires change:<name> then change, with the model and value, only for a new value", () => {
    const m = new FakeModel({ selected_filters: [1] });
    const seen: string[] = [];
    m.on("change:selected_filters", (model: unknown, v: unknown) =>
      seen.push(`${model === m} ${JSON.stringify(v)}`),
    );
    m.on("change", () => seen.push("change"));
    m.set("selected_filters", [1]); // equal by value: Backbone fires nothing
    m.set("selected_filters", [1, 2]);
    expect(seen).toEqual(["true [1,2]", "change"]);
    expect(m.get("selected_filters")).toEqual([1, 2]);
  });

  it("subscribes several events at once and unsubscribes one, a name, or everything", () => {
    const m = new FakeModel();
    const calls: string[] = [];
    const a = () => calls.push("a");
    const b = () => calls.push("b");
    m.on("change:layer  change:error", a);
    m.on("change:layer", b);
    m.off("change:layer", a);
    m.set("layer", "x");
    m.set("error", "boom");
    expect(calls).toEqual(["b", "a"]);
    m.off("change:layer");
    expect(m.listenerCount("change:layer")).toBe(0);
    expect(m.listenerCount("change:error")).toBe(1);
    m.off();
    expect(m.listenerCount("change:error")).toBe(0);
  });

  it("lets a callback unsubscribe while its event is being delivered", () => {
    const m = new FakeModel();
    const calls: string[] = [];
    const first = () => {
      calls.push("first");
      m.off("msg:custom", first);
    };
    m.on("msg:custom", first);
    m.on("msg:custom", () => calls.push("second"));
    m.reply({ type: "x" });
    m.reply({ type: "x" });
    expect(calls).toEqual(["first", "second", "second"]);
  });
});
